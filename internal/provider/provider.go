// Package provider is the seam between cmekd and the clouds whose keys it uses: AWS KMS, Google
// Cloud KMS and Azure Key Vault. Each cloud's adapter satisfies Provider; a Set routes every call by
// the shape of the key id, so that everything above it (the keyring, the monitor, states, regions,
// backups, secrets, webhooks, the API) holds key ids as opaque strings and never knows which cloud
// it talks to.
package provider

import (
	"context"
	"strings"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/verify"
)

// Names of the providers.
const (
	AWS   = domain.ProviderAWS
	GCP   = domain.ProviderGCP
	Azure = domain.ProviderAzure
)

// Of is the provider a key id belongs to by its shape (domain.ProviderOf).
func Of(keyID string) string { return domain.ProviderOf(keyID) }

// Wrapper wraps and unwraps data keys under a customer's (or the platform's) key, bound to an
// encryption context. Every failure is a *kms.Error whose Code tells a customer-caused failure
// (the key disabled, deleted, access removed) from a transient one (kms_unavailable).
type Wrapper interface {
	// GenerateDataKey returns a new 256-bit data key and its wrapped form under keyID.
	GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) (plaintext, wrapped []byte, err error)
	// Decrypt unwraps a wrapped data key; the wrapped form names the key version that wrapped it, so
	// that data stays readable after the customer rotates the key.
	Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error)
	// Encrypt wraps plaintext under keyID.
	Encrypt(ctx context.Context, keyID string, plaintext []byte, encCtx map[string]string) ([]byte, error)
	// ReEncrypt wraps again under toID what fromID wrapped; where the cloud has no re-encrypt, the
	// adapter unwraps and wraps in memory.
	ReEncrypt(ctx context.Context, fromID string, wrapped []byte, fromCtx map[string]string, toID string, toCtx map[string]string) ([]byte, error)
}

// Provider is one cloud's keys as cmekd uses them.
type Provider interface {
	Wrapper
	// Name is AWS, GCP or Azure.
	Name() string
	// Identify checks keyID against the provider's identifier rules as a key linked in region ("" for
	// any) and returns its canonical form, or a *domain.Error (422) whose code names what is wrong.
	Identify(keyID, region string) (string, error)
	// Verify runs the provider's ordered checks of a key (onboarding, key checks, probes) and reports
	// every one in the same shape, whatever the cloud.
	Verify(ctx context.Context, req verify.Request) verify.Report
	// Access is what the customer grants the platform on keyID, exactly enough: format "json",
	// "terraform" or "cli".
	Access(keyID, format string) ([]byte, error)
	// Statement is the access as one JSON value, for a key check's policy_statement.
	Statement(keyID string) any
	// Regions are the regions this deployment serves keys of the provider in.
	Regions() []string
}

// Set is the providers a deployment serves, routing each call by the key id's provider. It is a
// Wrapper itself, and runs verification like verify.Verifier does.
type Set struct {
	byName map[string]Provider
	order  []string
	// grantMode tells whether AWS keys are verified with the data identity's grants.
	grantMode bool
}

// NewSet returns the set of ps; grantMode is AWS's (the others use their one identity).
func NewSet(grantMode bool, ps ...Provider) *Set {
	s := &Set{byName: map[string]Provider{}, grantMode: grantMode}
	for _, p := range ps {
		s.byName[p.Name()] = p
		s.order = append(s.order, p.Name())
	}
	return s
}

var _ Wrapper = (*Set)(nil)

// Names are the providers served, in the order they were given.
func (s *Set) Names() []string { return s.order }

// Named is the provider called name, if it is served.
func (s *Set) Named(name string) (Provider, bool) {
	p, ok := s.byName[name]
	return p, ok
}

// Unsupported is the refusal of a provider this deployment does not serve.
func (s *Set) Unsupported(name string) *domain.Error {
	e := domain.Errorf(domain.KindInvalid, domain.CodeUnsupportedProvider,
		"provider %q is not served by this deployment; it serves %s", domain.Clip(name, 20), strings.Join(s.order, ", "))
	e.Details = map[string]any{"field": "encryption.provider", "providers": s.order}
	return e
}

// For is the provider of keyID, or a *kms.Error naming why there is none.
func (s *Set) For(keyID string) (Provider, error) {
	if p, ok := s.byName[Of(keyID)]; ok {
		return p, nil
	}
	return nil, &kms.Error{Code: domain.CodeInvalidKeyARN, Action: "route", Message: "no provider this deployment serves takes key " + domain.Clip(keyID, 80)}
}

// GrantMode reports whether AWS keys are verified with grants.
func (s *Set) GrantMode() bool { return s.grantMode }

// Run verifies a key through its provider; a key of no served provider fails its first check.
func (s *Set) Run(ctx context.Context, req verify.Request) verify.Report {
	p, err := s.For(req.Key)
	if err != nil {
		return verify.Report{KeyARN: req.Key, Checks: []domain.Check{{Name: verify.CheckARN, Code: domain.CodeInvalidKeyARN, Message: err.(*kms.Error).Message}}}
	}
	return p.Verify(ctx, req)
}

// Verify is Run of a request for input as a key linked in region, with orgID's encryption context.
func (s *Set) Verify(ctx context.Context, input, region, orgID string, steps verify.Steps) verify.Report {
	return s.Run(ctx, verify.Request{Key: input, Region: region, OrgID: orgID, Steps: steps})
}

// GenerateDataKey routes to keyID's provider.
func (s *Set) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) ([]byte, []byte, error) {
	p, err := s.For(keyID)
	if err != nil {
		return nil, nil, err
	}
	return p.GenerateDataKey(ctx, keyID, encCtx)
}

// Decrypt routes to keyID's provider.
func (s *Set) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	p, err := s.For(keyID)
	if err != nil {
		return nil, err
	}
	return p.Decrypt(ctx, keyID, wrapped, encCtx)
}

// Encrypt routes to keyID's provider.
func (s *Set) Encrypt(ctx context.Context, keyID string, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	p, err := s.For(keyID)
	if err != nil {
		return nil, err
	}
	return p.Encrypt(ctx, keyID, plaintext, encCtx)
}

// ReEncrypt routes to the providers of both keys: one provider re-encrypts itself; across two, the
// data key is unwrapped by one and wrapped by the other in memory.
func (s *Set) ReEncrypt(ctx context.Context, fromID string, wrapped []byte, fromCtx map[string]string, toID string, toCtx map[string]string) ([]byte, error) {
	from, err := s.For(fromID)
	if err != nil {
		return nil, err
	}
	to, err := s.For(toID)
	if err != nil {
		return nil, err
	}
	if from == to {
		return from.ReEncrypt(ctx, fromID, wrapped, fromCtx, toID, toCtx)
	}
	return ReEncrypt(ctx, from, fromID, wrapped, fromCtx, to, toID, toCtx)
}
