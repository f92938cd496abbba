package grants

import (
	"context"
	"log/slog"
	"time"

	"github.com/cmekd/cmekd/internal/background"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/store"
)

// TokenSharer gives this replica's data identity the tokens of the grants other replicas made
// lately: KMS makes a new grant visible everywhere only eventually, and until then a call through
// it succeeds only with its token. Without it, a probe on another replica right after a grant is
// made (at creation or renewal) could find access denied and halt the region.
type TokenSharer struct {
	store *store.Store
	data  *kms.Client
	log   *slog.Logger
	every time.Duration
}

// NewTokenSharer returns a TokenSharer that reads the recent grants every interval (0: a second).
func NewTokenSharer(st *store.Store, data *kms.Client, log *slog.Logger, every time.Duration) *TokenSharer {
	if every <= 0 {
		every = time.Second
	}
	return &TokenSharer{store: st, data: data, log: log, every: every}
}

// Name names the service.
func (s *TokenSharer) Name() string { return "grant-token-sharer" }

// Run shares tokens every interval until ctx ends.
func (s *TokenSharer) Run(ctx context.Context) error {
	return background.Every(s.Name(), s.every, s.log, s.Share).Run(ctx)
}

// Share hands the data identity's client the tokens of the grants made within kms.GrantTokenTTL.
func (s *TokenSharer) Share(ctx context.Context) error {
	recent, err := s.store.RecentGrantTokens(ctx, s.store.Now().Add(-kms.GrantTokenTTL))
	if err != nil {
		return err
	}
	for _, g := range recent {
		s.data.AddGrantTokenOf(g.KeyARN, g.ID, g.Token, g.CreatedAt)
	}
	return nil
}
