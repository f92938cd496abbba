// Package providerkey checks the platform's own key (CMEKD_PROVIDER_KEY_ARN) like a customer's: once at start, where a customer-caused failure stops the server, and then in the background,
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
	"github.com/cmekd/cmekd/internal/keyarn"
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
	// ARNs are CMEKD_PROVIDER_KEY_ARN: the platform's keys, at most one per region.
	ARNs     []string
	Verifier Verifier
	Logger   *slog.Logger
	// Interval is how often a verified key is checked again (CMEKD_PROBE_INTERVAL).
	Interval time.Duration
	// Backoff are the waits between checks while a key has not passed one, the last repeated; nil
	// means 1s, 2s, 5s, 10s, 30s.
	Backoff []time.Duration
}

// Key is the platform's keys, one per region it lists, and what this replica knows of each.
type Key struct {
	cfg   Config
	nudge chan struct{}
	byARN map[string]*state
	// regions maps a region to its key's ARN.
	regions map[string]string
}

type state struct {
	arn    string
	mu     sync.Mutex
	status string // domain.KeyHealthy, KeyUnavailable or KeyUnknown (not judged yet)
	passed bool   // a check has passed since start
}

// ErrNotVerified is what Ready answers until a check of every key has passed.
var ErrNotVerified = errors.New("the provider key (CMEKD_PROVIDER_KEY_ARN) has not been verified yet")

// New returns a Key not yet checked. ARNs that are not key ARNs are ignored (configuration checks
// them).
func New(cfg Config) *Key {
	if cfg.Backoff == nil {
		cfg.Backoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second}
	}
	k := &Key{cfg: cfg, nudge: make(chan struct{}, 1), byARN: map[string]*state{}, regions: map[string]string{}}
	for _, a := range cfg.ARNs {
		parsed, err := keyarn.Parse(a)
		if err != nil {
			continue
		}
		k.byARN[a] = &state{arn: a, status: domain.KeyUnknown}
		if _, ok := k.regions[parsed.Region]; !ok {
			k.regions[parsed.Region] = a
		}
	}
	return k
}

// Is reports whether keyARN is one of the platform's keys.
func (k *Key) Is(keyARN string) bool {
	_, ok := k.byARN[keyARN]
	return ok
}

// For is the platform's key of region, and whether it has one there.
func (k *Key) For(region string) (string, bool) {
	a, ok := k.regions[region]
	return a, ok
}

// Status is the health of the key of region as this replica last judged it: the key listed for the
// region, or else the first listed (the default key, which serves organisations' home regions);
// unknown without any.
func (k *Key) Status(region string) string {
	arn, ok := k.regions[region]
	if !ok && len(k.cfg.ARNs) > 0 {
		arn = k.cfg.ARNs[0]
	}
	st, ok := k.byARN[arn]
	if !ok {
		return domain.KeyUnknown
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.status
}

// Usable reports whether requests may try keyARN: it is not known to be unusable. While KMS cannot
// be reached they may, and meet kms_unreachable.
func (k *Key) Usable(keyARN string) bool {
	st, ok := k.byARN[keyARN]
	if !ok {
		return true
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.status != domain.KeyUnavailable
}

// Ready is nil once a check of every key has passed; /readyz answers 503 until then.
func (k *Key) Ready(context.Context) error {
	for _, st := range k.byARN {
		st.mu.Lock()
		passed := st.passed
		st.mu.Unlock()
		if !passed {
			return ErrNotVerified
		}
	}
	return nil
}

// Start checks every key once. A customer-caused failure (disabled, not found, access denied, wrong
// spec…) is an error naming CMEKD_PROVIDER_KEY_ARN that should stop the server; a transient one is
// not: the key stays unverified and Run checks it again.
func (k *Key) Start(ctx context.Context) error {
	for _, a := range k.cfg.ARNs {
		st, ok := k.byARN[a]
		if !ok {
			continue
		}
		r := k.check(ctx, st)
		if r.OK() || r.Transient() {
			continue
		}
		c, _ := r.FirstFailure()
		return fmt.Errorf("configuration: CMEKD_PROVIDER_KEY_ARN: the provider key %s cannot be used: %s: %s", a, c.Code, c.Message)
	}
	return nil
}

// Failed records that KMS refused keyARN for a reason of the key's own (a request met it), and has
// Run check it again now: a refusal that the next check does not confirm is forgotten.
func (k *Key) Failed(ctx context.Context, keyARN string, e *domain.ProbeError) {
	st, ok := k.byARN[keyARN]
	if !ok {
		return
	}
	k.set(ctx, st, domain.KeyUnavailable, e.Code)
	select {
	case k.nudge <- struct{}{}:
	default:
	}
}

// check runs the monitor's checks (Health steps) and records the verdict; a transient
// failure changes nothing.
func (k *Key) check(ctx context.Context, st *state) verify.Report {
	r := k.cfg.Verifier.Verify(ctx, st.arn, "", checkContext, verify.Health)
	switch {
	case r.OK():
		k.set(ctx, st, domain.KeyHealthy, "")
	case r.Transient():
		c, _ := r.FirstFailure()
		k.cfg.Logger.WarnContext(ctx, "provider key check could not reach KMS", "key_arn", st.arn, "reason", c.Code)
	default:
		c, _ := r.FirstFailure()
		k.set(ctx, st, domain.KeyUnavailable, c.Code)
	}
	return r
}

// set records a status, logging a change.
func (k *Key) set(ctx context.Context, st *state, status, reason string) {
	st.mu.Lock()
	was := st.status
	st.status = status
	if status == domain.KeyHealthy {
		st.passed = true
	}
	st.mu.Unlock()
	switch {
	case was == status:
	case status == domain.KeyUnavailable:
		k.cfg.Logger.ErrorContext(ctx, "provider key unavailable", "key_arn", st.arn, "reason", reason)
	default:
		k.cfg.Logger.InfoContext(ctx, "provider key healthy", "key_arn", st.arn)
	}
}

// Name names the service.
func (k *Key) Name() string { return "provider-key-check" }

// Run checks the keys every interval once they have passed a check, and with backoff until then,
// until ctx ends. A request's refusal (Failed) brings the next check forward.
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
		for _, a := range k.cfg.ARNs {
			if st, ok := k.byARN[a]; ok {
				k.check(ctx, st)
			}
		}
	}
}
