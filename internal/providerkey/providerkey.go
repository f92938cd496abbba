// Package providerkey checks the platform's own key (CMEKD_PROVIDER_KEY_ARN) like a customer's (SPEC
// §16): once at start, where a customer-caused failure stops the server, and then in the background,
// so that requests needing it fail as the platform's fault (provider_key_unavailable) rather than the
// tenant's. The key's status is this replica's own: every replica checks the key for itself.
package providerkey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/verify"
)

// Verifier is what checking the key asks of verification; *verify.Verifier is one.
type Verifier interface {
	Verify(ctx context.Context, input, region, orgID string, steps verify.Steps) verify.Report
}

var _ Verifier = (*verify.Verifier)(nil)

// checkContext is the organisation the key's checks name in their encryption context: none.
const checkContext = "cmekd-provider-key"

// Config configures a Key.
type Config struct {
	// ARN is CMEKD_PROVIDER_KEY_ARN.
	ARN      string
	Verifier Verifier
	Logger   *slog.Logger
	// Interval is how often a verified key is checked again (CMEKD_PROBE_INTERVAL).
	Interval time.Duration
	// Backoff are the waits between checks while the key has not passed one, the last repeated; nil
	// means 1s, 2s, 5s, 10s, 30s.
	Backoff []time.Duration
}

// Key is the platform's key and what this replica knows of it.
type Key struct {
	cfg   Config
	nudge chan struct{}

	mu     sync.Mutex
	status string // domain.KeyHealthy, KeyUnavailable or KeyUnknown (not judged yet)
	passed bool   // a check has passed since start
}

// ErrNotVerified is what Ready answers until a check of the key has passed.
var ErrNotVerified = errors.New("the provider key (CMEKD_PROVIDER_KEY_ARN) has not been verified yet")

// New returns a Key not yet checked.
func New(cfg Config) *Key {
	if cfg.Backoff == nil {
		cfg.Backoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second}
	}
	return &Key{cfg: cfg, nudge: make(chan struct{}, 1), status: domain.KeyUnknown}
}

// Is reports whether keyARN is the platform's key.
func (k *Key) Is(keyARN string) bool { return keyARN == k.cfg.ARN }

// Status is the key's health as this replica last judged it.
func (k *Key) Status() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.status
}

// Usable reports whether requests may try the key: it is not known to be unusable. While KMS cannot
// be reached they may, and meet kms_unreachable.
func (k *Key) Usable() bool { return k.Status() != domain.KeyUnavailable }

// Ready is nil once a check of the key has passed; /readyz answers 503 until then.
func (k *Key) Ready(context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.passed {
		return ErrNotVerified
	}
	return nil
}

// Start checks the key once. A customer-caused failure (disabled, not found, access denied, wrong
// spec…) is an error naming CMEKD_PROVIDER_KEY_ARN that should stop the server; a transient one is
// not: the key stays unverified and Run checks it again.
func (k *Key) Start(ctx context.Context) error {
	r := k.check(ctx)
	if r.OK() || r.Transient() {
		return nil
	}
	c, _ := r.FirstFailure()
	return fmt.Errorf("configuration: CMEKD_PROVIDER_KEY_ARN: the provider key %s cannot be used: %s: %s", k.cfg.ARN, c.Code, c.Message)
}

// Failed records that KMS refused the key for a reason of the key's own (a request met it), and has
// Run check it again now: a refusal that the next check does not confirm is forgotten.
func (k *Key) Failed(ctx context.Context, e *domain.ProbeError) {
	k.set(ctx, domain.KeyUnavailable, e.Code)
	select {
	case k.nudge <- struct{}{}:
	default:
	}
}

// check runs the monitor's checks (SPEC §4's Health steps) and records the verdict; a transient
// failure changes nothing.
func (k *Key) check(ctx context.Context) verify.Report {
	r := k.cfg.Verifier.Verify(ctx, k.cfg.ARN, "", checkContext, verify.Health)
	switch {
	case r.OK():
		k.set(ctx, domain.KeyHealthy, "")
	case r.Transient():
		c, _ := r.FirstFailure()
		k.cfg.Logger.WarnContext(ctx, "provider key check could not reach KMS", "key_arn", k.cfg.ARN, "reason", c.Code)
	default:
		c, _ := r.FirstFailure()
		k.set(ctx, domain.KeyUnavailable, c.Code)
	}
	return r
}

// set records a status, logging a change.
func (k *Key) set(ctx context.Context, status, reason string) {
	k.mu.Lock()
	was := k.status
	k.status = status
	if status == domain.KeyHealthy {
		k.passed = true
	}
	k.mu.Unlock()
	switch {
	case was == status:
	case status == domain.KeyUnavailable:
		k.cfg.Logger.ErrorContext(ctx, "provider key unavailable", "key_arn", k.cfg.ARN, "reason", reason)
	default:
		k.cfg.Logger.InfoContext(ctx, "provider key healthy", "key_arn", k.cfg.ARN)
	}
}

// Name names the service.
func (k *Key) Name() string { return "provider-key-check" }

// Run checks the key every interval once it has passed a check, and with backoff until then, until
// ctx ends. A request's refusal (Failed) brings the next check forward.
func (k *Key) Run(ctx context.Context) error {
	attempt := 0
	for {
		wait := k.cfg.Interval
		if k.Ready(ctx) != nil {
			wait = k.cfg.Backoff[min(attempt, len(k.cfg.Backoff)-1)]
			attempt++
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-k.nudge:
			t.Stop()
		}
		k.check(ctx)
	}
}
