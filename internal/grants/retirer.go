package grants

import (
	"context"
	"log/slog"
	"time"

	"github.com/cmekd/cmekd/internal/background"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/store"
)

// Retirer is the background worker that retires the grants of deleted organisations (and those a
// failed verification could not retire at once) until KMS confirms. Any replica may run it: each
// grant is leased to one replica at a time, and a lease that runs out (its replica died) is taken
// over. A grant already gone from KMS counts as retired.
type Retirer struct {
	store   *store.Store
	control *kms.Client
	owner   string
	log     *slog.Logger
	every   time.Duration
	lease   time.Duration
}

// RetirerConfig configures a Retirer.
type RetirerConfig struct {
	Store *store.Store
	// Control is the control identity's client: the retiring principal of every grant.
	Control *kms.Client
	// Owner names this replica in leases.
	Owner  string
	Logger *slog.Logger
	// Every is how often the outbox is looked at; 0 means a second.
	Every time.Duration
	// KMSTimeout bounds one KMS call, retries included (CMEKD_KMS_TIMEOUT); a grant's lease is three
	// of them, so that a replica that dies holding one is replaced soon. 0 means kms.DefaultTimeout.
	KMSTimeout time.Duration
}

// NewRetirer returns a Retirer.
func NewRetirer(cfg RetirerConfig) *Retirer {
	every := cfg.Every
	if every <= 0 {
		every = time.Second
	}
	timeout := cfg.KMSTimeout
	if timeout <= 0 {
		timeout = kms.DefaultTimeout
	}
	return &Retirer{store: cfg.Store, control: cfg.Control, owner: cfg.Owner, log: cfg.Logger, every: every, lease: 3 * timeout}
}

// Retry delays of a failed retirement.
const (
	retryBase = time.Second
	retryMax  = 10 * time.Minute
)

// Name names the service.
func (r *Retirer) Name() string { return "grant-retirer" }

// Run retires due grants every interval until ctx ends.
func (r *Retirer) Run(ctx context.Context) error {
	return background.Every(r.Name(), r.every, r.log, func(ctx context.Context) error {
		_, err := r.RetireDue(ctx)
		return err
	}).Run(ctx)
}

// RetireDue retires the grants that are due now and returns how many it retired. It claims one grant
// at a time, so that a lease covers one KMS call and the other replicas share the rest.
func (r *Retirer) RetireDue(ctx context.Context) (int, error) {
	done := 0
	for ctx.Err() == nil {
		claimed, err := r.store.ClaimGrantRetirements(ctx, r.owner, r.lease, 1)
		if err != nil || len(claimed) == 0 {
			return done, err
		}
		ok, err := r.retire(ctx, claimed[0])
		if err != nil {
			return done, err
		}
		if ok {
			done++
		}
	}
	return done, nil
}

// retire retires one claimed grant, or records the failure and when to try again.
func (r *Retirer) retire(ctx context.Context, g store.GrantRetirement) (bool, error) {
	gone, err := r.control.RetireGrant(ctx, g.KeyARN, g.ID)
	if err != nil {
		next := r.store.Now().Add(backoff(g.Attempts))
		r.log.WarnContext(ctx, "grant retirement failed; retrying later", "org_id", g.OrgID, "key_arn", g.KeyARN,
			"grant_id", g.ID, "attempts", g.Attempts+1, "next_attempt_at", next, "error", err.Error())
		return false, r.store.FailGrantRetirement(ctx, g.ID, r.owner, err.Error(), next)
	}
	reason := "retired"
	if gone {
		reason = "already gone from KMS"
	}
	finished := false
	err = r.store.InTx(ctx, func(tx *store.Q) error {
		var err error
		if finished, err = tx.FinishGrantRetirement(ctx, g.ID, r.owner); err != nil || !finished || !g.Announced {
			return err
		}
		return tx.InsertEvent(ctx, domain.Event{OrgID: g.OrgID, Type: domain.EventGrantRetired, Actor: "grant-retirer", Region: g.Region,
			Purpose: g.Purpose, Reason: reason, Details: map[string]any{"grant_id": g.ID, "key_arn": g.KeyARN}})
	})
	if err != nil || !finished {
		return false, err
	}
	r.log.InfoContext(ctx, "grant retired", "org_id", g.OrgID, "key_arn", g.KeyARN, "grant_id", g.ID, "reason", reason)
	return true, nil
}

// backoff is the wait after a grant's attempts-th failed retirement (0 for the first): doubling from
// a second up to ten minutes.
func backoff(attempts int) time.Duration {
	if attempts >= 10 {
		return retryMax
	}
	return min(retryBase<<attempts, retryMax)
}
