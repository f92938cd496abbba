package health

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/providerkey"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/verify"
)

// Verifier is what probing a key asks of verification, whatever the key's provider; the provider
// set is one.
type Verifier interface {
	Verify(ctx context.Context, input, region, orgID string, steps verify.Steps) verify.Report
}

// Config configures the service.
type Config struct {
	Store      *store.Store
	Verifier   Verifier
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Provider is the platform's key: the key of every provider_managed organisation's regions.
	Provider *providerkey.Key
	// Interval is CMEKD_PROBE_INTERVAL; PauseAfter is CMEKD_PAUSE_AFTER.
	Interval, PauseAfter time.Duration
	// IntervalWithEvents (CMEKD_PROBE_INTERVAL_WITH_EVENTS) replaces Interval for the keys of an
	// organisation whose key events arrived within EventsFresh (CMEKD_EVENTS_FRESH): the events tell
	// cmekd of a change at once, and the probe stays the safety net. Zero keeps Interval for all.
	IntervalWithEvents, EventsFresh time.Duration
	// Unusable, when set, is told the ARN of a key a probe found unusable (customer-caused), before
	// that is on record: the server drops the key's data keys from this replica's cache with it, so
	// reads here fail at once; the other replicas learn it from the database.
	Unusable func(keyARN string)
}

// Service probes keys and applies what it finds. The monitor, the probe-now route and resume share it.
type Service struct {
	store      *store.Store
	verifier   Verifier
	provider   *providerkey.Key
	log        *slog.Logger
	interval   time.Duration
	pauseAfter time.Duration
	// withEvents and eventsFresh are Config's IntervalWithEvents and EventsFresh.
	withEvents, eventsFresh time.Duration
	unusable                func(keyARN string)
	registerer              prometheus.Registerer // the monitor's gauges register here too
	probes                  *prometheus.CounterVec
	changes                 *prometheus.CounterVec
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{store: cfg.Store, verifier: cfg.Verifier, provider: cfg.Provider, log: cfg.Logger, interval: cfg.Interval, pauseAfter: cfg.PauseAfter,
		unusable: cfg.Unusable, registerer: cfg.Registerer, withEvents: cfg.IntervalWithEvents, eventsFresh: cfg.EventsFresh,
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cmekd_key_probes_total",
			Help: "Key probes by outcome (healthy, customer_caused, transient)."}, []string{"outcome"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cmekd_collection_transitions_total",
			Help: "Collection state transitions by target state."}, []string{"to"}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.probes, s.changes)
	}
	return s
}

var kindNames = map[Kind]string{Healthy: "healthy", CustomerCaused: "customer_caused", Transient: "transient"}

// Probe runs the health checks against a key and classifies the report. The probe of a backup key
// is the data key's (DescribeKey, GenerateDataKey, Decrypt).
func (s *Service) Probe(ctx context.Context, orgID, region, keyARN string) Outcome {
	r := s.verifier.Verify(ctx, keyARN, region, orgID, verify.Health)
	o := Outcome{Kind: Healthy}
	if !r.OK() {
		c, _ := r.FirstFailure()
		o = Outcome{Kind: CustomerCaused, Error: &domain.ProbeError{Code: c.Code, Action: c.Action, Message: c.Message}}
		if r.Transient() {
			o.Kind = Transient
		}
	}
	s.probes.WithLabelValues(kindNames[o.Kind]).Inc()
	return o
}

// nextProbe spreads probes over time: the interval with ±10% jitter, so keys linked together are
// not probed together forever. The interval is the one with events when the key's organisation had
// key events at eventsAt (nil: never) within the freshness window.
func (s *Service) nextProbe(now time.Time, eventsAt *time.Time) time.Time {
	interval := s.interval
	if s.freshEvents(now, eventsAt) {
		interval = s.withEvents
	}
	jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(interval))
	return now.Add(interval + jitter)
}

// freshEvents reports whether key events that last arrived at eventsAt put their organisation on the
// schedule with events at now.
func (s *Service) freshEvents(now time.Time, eventsAt *time.Time) bool {
	return s.withEvents > 0 && eventsAt != nil && !eventsAt.Before(now.Add(-s.eventsFresh))
}

// Key names one linked key: an organisation's key of a region and purpose.
type Key struct {
	OrgID, Region, Purpose string
}

// Apply writes an outcome for one key with its events in one transaction; extra (when not nil) runs
// inside the same transaction after the decision is written (resume uses it).
func (s *Service) Apply(ctx context.Context, k Key, actor string, o Outcome, extra func(tx *store.Q) error) error {
	_, _, err := s.apply(ctx, k, "", actor, o, extra)
	return err
}

// apply is Apply for the monitor too: with leaseOwner set, the outcome is dropped (false) unless the
// lease is still held, so a late result never overrides a newer one.
//
// Only a data key's outcome moves collections: a failing backup key makes backups and restores fail
// and shows in key-status and events, but never changes a collection's state.
func (s *Service) apply(ctx context.Context, k Key, leaseOwner, actor string, o Outcome,
	extra func(tx *store.Q) error) (Decision, bool, error) {
	var d Decision
	applied := false
	orgID, region := k.OrgID, k.Region
	err := s.store.InTx(ctx, func(tx *store.Q) error {
		h, err := tx.LockKeyHealth(ctx, orgID, region, k.Purpose)
		if err != nil {
			return err
		}
		if o.Kind == CustomerCaused && s.unusable != nil {
			// Before the commit, so that whoever sees the key unavailable finds its data keys gone
			// here; should the transaction fail, the next read merely asks KMS again.
			s.unusable(h.KeyARN)
		}
		now := tx.Now()
		if leaseOwner != "" {
			held, err := tx.HoldsLease(ctx, orgID, region, k.Purpose, leaseOwner, now)
			if err != nil || !held {
				return err
			}
		}
		var cols []domain.Collection
		if k.Purpose == domain.PurposeData {
			if cols, err = tx.LockCollectionsIn(ctx, orgID, region); err != nil {
				return err
			}
		}
		d = Decide(h, cols, o, now, s.pauseAfter)
		var eventsAt *time.Time
		if s.withEvents > 0 {
			if eventsAt, err = tx.LastKeyEventAt(ctx, orgID); err != nil {
				return err
			}
		}
		d.Key.NextProbeAt = s.nextProbe(now, eventsAt)
		if err := record(ctx, tx, k, actor, o, d, now); err != nil {
			return err
		}
		if extra != nil {
			if err := extra(tx); err != nil {
				return err
			}
		}
		applied = true
		return nil
	})
	if err != nil || !applied {
		return d, false, err
	}
	s.report(ctx, k, d)
	return d, true, nil
}

// record writes decision d about key k in tx: the key's health, its event, and each collection's new
// state with its event.
func record(ctx context.Context, tx *store.Q, k Key, actor string, o Outcome, d Decision, now time.Time) error {
	if err := tx.SaveKeyHealth(ctx, d.Key); err != nil {
		return err
	}
	if d.KeyEvent != "" {
		ev := domain.Event{OrgID: k.OrgID, Type: d.KeyEvent, Actor: actor, Region: k.Region, Purpose: k.Purpose, Reason: d.Reason}
		if d.KeyEvent == domain.EventKeyProbeError && o.Error != nil {
			ev.Reason = o.Error.Code + ": " + o.Error.Message
		}
		if err := tx.InsertEvent(ctx, ev); err != nil {
			return err
		}
	}
	for _, c := range d.Changes {
		if err := tx.SetCollectionState(ctx, c.CollectionID, c.To, stateReason(c), now); err != nil {
			return err
		}
		if err := tx.InsertEvent(ctx, domain.Event{OrgID: k.OrgID, Type: c.Event, Actor: actor, Region: k.Region,
			CollectionID: c.CollectionID, FromState: c.From, ToState: c.To, Reason: c.Reason}); err != nil {
			return err
		}
	}
	return nil
}

// report counts and logs a committed decision about key k.
func (s *Service) report(ctx context.Context, k Key, d Decision) {
	for _, c := range d.Changes {
		s.changes.WithLabelValues(c.To).Inc()
		s.log.InfoContext(ctx, "collection state changed", "org_id", k.OrgID, "region", k.Region, "collection_id", c.CollectionID,
			"from", c.From, "to", c.To, "reason", c.Reason)
	}
	if d.KeyEvent != "" {
		// A customer's key failing is what an operator most wants to see: WARN, once per transition.
		level := slog.LevelInfo
		if d.KeyEvent == domain.EventKeyUnavailable {
			level = slog.LevelWarn
		}
		s.log.Log(ctx, level, d.KeyEvent, "org_id", k.OrgID, "region", k.Region, "purpose", k.Purpose, "key_arn", d.Key.KeyARN, "reason", d.Reason)
	}
}

// stateReason is what a collection's state_reason says after a change: empty once active again.
func stateReason(c Change) string {
	if c.To == domain.StateActive {
		return ""
	}
	return c.Reason
}

// ProbeKey probes one linked key, keyARN, now and applies the outcome, as probe-now does for all of an
// organisation's keys: key events use it for the key an event names.
func (s *Service) ProbeKey(ctx context.Context, k Key, keyARN, actor string) error {
	o := s.Probe(ctx, k.OrgID, k.Region, keyARN)
	_, _, err := s.apply(ctx, k, "", actor, o, nil)
	return err
}

// KeyStatus is the health of every linked key of an organisation (the key-status route, with each key's purpose).
// A provider_managed organisation's regions all use the platform's keys: each shows region, purpose
// and the key's status only, for its ARN and its errors are the platform's, not the tenant's.
func (s *Service) KeyStatus(ctx context.Context, org domain.Org) ([]domain.KeyHealth, error) {
	if org.Mode != domain.ModeProviderManaged {
		return s.store.KeyHealth(ctx, org.ID)
	}
	regions := org.Regions
	if len(regions) == 0 {
		regions = []string{org.Region}
	}
	keys := make([]domain.KeyHealth, len(regions))
	for i, r := range regions {
		keys[i] = domain.KeyHealth{OrgID: org.ID, Region: r, Purpose: domain.PurposeData, Status: s.ProviderKeyStatus(r)}
	}
	return keys, nil
}

// ProviderKeyStatus is the health of the platform's key of region as this replica knows it: the key
// status of every provider_managed organisation there.
func (s *Service) ProviderKeyStatus(region string) string { return s.provider.Status(region) }

// ProbeNow probes every linked key of an organisation now and applies the results (probe).
// The platform's key is the platform's to check: a provider_managed organisation gets its status.
func (s *Service) ProbeNow(ctx context.Context, org domain.Org, actor string) ([]domain.KeyHealth, error) {
	if org.Mode == domain.ModeProviderManaged {
		return s.KeyStatus(ctx, org)
	}
	orgID := org.ID
	keys, err := s.store.KeyHealth(ctx, orgID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		o := s.Probe(ctx, orgID, k.Region, k.KeyARN)
		if _, _, err := s.apply(ctx, Key{orgID, k.Region, k.Purpose}, "", actor, o, nil); err != nil {
			return nil, err
		}
	}
	return s.store.KeyHealth(ctx, orgID)
}
