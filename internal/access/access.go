// Package access is who may call cmekd: the platform operator's token, organisation tokens (made,
// listed and revoked, their secrets shown once and kept only as hashes), authentication of a bearer
// secret into a principal with its role, and the per-token bounds on expensive calls.
package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

// Service makes, lists and revokes tokens, and authenticates bearer secrets.
type Service struct {
	store      *store.Store
	adminToken string
	maxTokens  int
	tokens     tokenCache
}

// New returns a Service over st; adminToken is the platform operator's token (CMEKD_ADMIN_TOKEN),
// maxTokens the most live tokens an organisation may hold (0: no limit).
func New(st *store.Store, adminToken string, maxTokens int) *Service {
	return &Service{store: st, adminToken: adminToken, maxTokens: maxTokens}
}

// tokenPrefix marks cmekd secrets so secret scanners can find leaked ones.
const tokenPrefix = "cmekd_"

// newTokenSecret returns a fresh secret (256 random bits) and the hash that is stored instead.
func newTokenSecret() (secret string, hash []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, hashSecret(secret)
}

func hashSecret(secret string) []byte {
	h := hashOf(secret)
	return h[:]
}

func hashOf(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

var errUnauthorized = domain.Errorf(domain.KindUnauthenticated, domain.CodeUnauthorized,
	"send a valid token as Authorization: Bearer <token>")

// Authenticate resolves a bearer secret into a Principal: the admin token from configuration, or a
// live organisation token looked up by the hash of its secret.
func (s *Service) Authenticate(ctx context.Context, secret string) (domain.Principal, error) {
	switch {
	case secret == "":
		return domain.Principal{}, errUnauthorized
	case s.adminToken != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(s.adminToken)) == 1:
		return domain.Principal{Role: domain.RoleAdmin}, nil
	case strings.HasPrefix(secret, tokenPrefix):
		h := hashOf(secret)
		tok, err := s.store.TokenByHash(ctx, h[:])
		if errors.Is(err, domain.ErrNotFound) {
			s.tokens.drop(h) // revoked: not kept for a provisional answer either
			return domain.Principal{}, errUnauthorized
		} else if err != nil {
			return domain.Principal{}, err
		}
		return domain.Principal{Role: tok.Role, OrgID: tok.OrgID, TokenID: tok.ID, Workspace: tok.Workspace}, nil
	}
	return domain.Principal{}, errUnauthorized
}

// TokenInput is what POST …/tokens asks for.
type TokenInput struct {
	Name string
	Role string
	// Workspace names the workspace of a token with role workspace, and only of one.
	Workspace string
}

// CreateToken makes a token of the organisation; the secret is returned once and only its hash kept.
func (s *Service) CreateToken(ctx context.Context, p domain.Principal, orgID string, in TokenInput) (domain.Token, string, error) {
	name, err := domain.ValidName("name", in.Name)
	if err != nil {
		return domain.Token{}, "", err
	}
	r := domain.Role(in.Role)
	switch {
	case !r.Valid():
		return domain.Token{}, "", domain.Invalid("role", "role must be owner, operator, member or workspace")
	case r == domain.RoleWorkspace && in.Workspace == "":
		return domain.Token{}, "", domain.Invalid("workspace", "a token with role workspace names its workspace")
	case r != domain.RoleWorkspace && in.Workspace != "":
		return domain.Token{}, "", domain.Invalid("workspace", "only a token with role workspace belongs to a workspace")
	}
	secret, hash := newTokenSecret()
	tok := domain.Token{ID: domain.NewID("tok"), OrgID: orgID, Name: name, Role: r}
	err = s.store.InTxWithin(ctx, store.LimitedTokens, orgID, s.maxTokens, func(tx *store.Q) error {
		if r == domain.RoleWorkspace {
			w, err := tx.Workspace(ctx, orgID, in.Workspace)
			if errors.Is(err, domain.ErrNotFound) {
				return domain.Invalid("workspace", "the organisation has no workspace of that name")
			} else if err != nil {
				return err
			}
			tok.WorkspaceID, tok.Workspace = w.ID, w.Name
		}
		tok.CreatedAt = tx.Now()
		if err := tx.InsertToken(ctx, tok, hash); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, domain.Event{OrgID: orgID, Type: domain.EventTokenCreated,
			Actor: p.Actor(), Reason: tok.ID + " (" + string(r) + ")"})
	})
	if err != nil {
		return domain.Token{}, "", err
	}
	return tok, secret, nil
}

// Tokens lists the organisation's live tokens.
func (s *Service) Tokens(ctx context.Context, orgID string, page domain.Page) ([]domain.Token, string, error) {
	return s.store.Tokens(ctx, orgID, page)
}

// RevokeToken revokes a live token of the organisation.
func (s *Service) RevokeToken(ctx context.Context, p domain.Principal, orgID, id string) error {
	return s.store.InTx(ctx, func(tx *store.Q) error {
		if err := tx.RevokeToken(ctx, orgID, id); err != nil {
			return err
		}
		// The console sessions it stood behind end with it, on every replica.
		if err := tx.DeleteTokenSessions(ctx, id); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, domain.Event{OrgID: orgID, Type: domain.EventTokenRevoked, Actor: p.Actor(), Reason: id})
	})
}

// StartSession records a console session of the token secret until expires and returns its id. The
// record names the token by id, never by its secret.
func (s *Service) StartSession(ctx context.Context, secret string, expires time.Time) (string, error) {
	p, err := s.Authenticate(ctx, secret)
	if err != nil {
		return "", err
	}
	id := domain.NewID("ses")
	return id, s.store.InsertSession(ctx, id, p.TokenID, p.OrgID, expires)
}

// SessionLive reports whether console session id is live: not ended, not expired, its token not
// revoked.
func (s *Service) SessionLive(ctx context.Context, id string) (bool, error) {
	return s.store.SessionLive(ctx, id)
}

// EndSession ends console session id.
func (s *Service) EndSession(ctx context.Context, id string) error {
	return s.store.DeleteSession(ctx, id)
}
