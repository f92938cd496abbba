package health

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/store"
)

// callsPerProbe is how many KMS calls one health probe makes (DescribeKey, GenerateDataKey, Decrypt).
const callsPerProbe = 3

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	// Owner names this replica in leases; it must be unique per running replica.
	Owner string
	// MaxRPS is CMEKD_PROBE_MAX_RPS: the ceiling on the monitor's KMS calls per second per region,
	// across every replica. Each replica takes an equal share of it (see Heartbeat).
	MaxRPS float64
	// Concurrency bounds probes in flight; 0 means 16.
	Concurrency int
	// Batch is how many due keys one claim takes at most; 0 means 250. A claim takes fewer when the
	// ceiling could not probe that many within an eighth of the lease (see claimLimit).
	Batch int
	// Lease is how long a claim holds; 0 means the probe interval. A probe is cut off at three
	// quarters of it, so its result lands while the lease still holds.
	Lease time.Duration
	// Clock tells the time; nil means the wall clock.
	Clock clock.Clock
}

// Monitor probes every linked key about once per interval. Keys are claimed with leases in
// PostgreSQL (FOR UPDATE SKIP LOCKED), so any number of replicas share the work and a dead
// replica's keys are claimed again when its leases run out, within an interval.
type Monitor struct {
	svc      *Service
	cfg      MonitorConfig
	mu       sync.Mutex
	limits   map[string]*rate.Limiter
	replicas int // live replicas at the last heartbeat, this one included; guarded by mu
	// achieved is cmekd_probe_achieved_interval_seconds{region}: the probe interval plus how late
	// the region's last probe ran after it was due.
	achieved *prometheus.GaugeVec
}

// A replica beats every heartbeatEvery at most (a quarter of the interval when that is shorter); one
// that missed four beats is taken for dead and its share of the ceiling goes to the others.
const (
	heartbeatEvery = 5 * time.Second
	missedBeats    = 4
)

// NewMonitor returns a monitor over the service.
func NewMonitor(svc *Service, cfg MonitorConfig) *Monitor {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 250
	}
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Lease <= 0 {
		cfg.Lease = svc.interval
	}
	m := &Monitor{svc: svc, cfg: cfg, limits: map[string]*rate.Limiter{}, replicas: 1,
		achieved: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cmekd_probe_achieved_interval_seconds",
			Help: "The probe interval the monitor achieves per region: the configured interval plus how late the " +
				"region's last probe ran after it was due (long when CMEKD_PROBE_MAX_RPS is too small for the keys)."},
			[]string{"region"})}
	if svc.registerer != nil {
		svc.registerer.MustRegister(m.achieved)
	}
	return m
}

func (m *Monitor) beat() time.Duration { return min(m.svc.interval/4, heartbeatEvery) }

// ProbeRate is this replica's share of the ceiling: KMS calls per second per region.
func (m *Monitor) ProbeRate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rateLocked()
}

func (m *Monitor) rateLocked() float64 { return m.cfg.MaxRPS / float64(m.replicas) }

// A region's limiter grants a probe's three calls at once (its burst is one probe) at its share of
// the ceiling less one probe's calls a second: however the grants fall, no second is granted more
// than the share. Below two probes' calls a second it grants at half the share, which holds the share
// on average but not in every second.
func limit(share float64) rate.Limit {
	if share >= 2*callsPerProbe {
		return rate.Limit(share - callsPerProbe)
	}
	return rate.Limit(share / 2)
}

// newLimiter is a region's limiter at share, its bucket empty: a replica that starts, or takes a new
// share, begins with no burst in hand.
func newLimiter(share float64) *rate.Limiter {
	l := rate.NewLimiter(limit(share), callsPerProbe)
	l.AllowN(time.Now(), callsPerProbe)
	return l
}

// Heartbeat tells the other replicas this one is alive and takes an equal share of the ceiling
// among the replicas alive now. Run calls it; a monitor that never beats takes the whole ceiling.
func (m *Monitor) Heartbeat(ctx context.Context) error {
	n, err := m.svc.store.Heartbeat(ctx, m.cfg.Owner, m.cfg.Clock.Now().UTC(), missedBeats*m.beat())
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n == m.replicas {
		return nil
	}
	m.replicas = n
	r := m.rateLocked()
	for _, l := range m.limits {
		l.SetLimit(limit(r))
	}
	return nil
}

// Leave gives this replica's share back to the others.
func (m *Monitor) Leave(ctx context.Context) error { return m.svc.store.Leave(ctx, m.cfg.Owner) }

// limiter is the region's token bucket (see limit).
func (m *Monitor) limiter(region string) *rate.Limiter {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.limits[region]
	if !ok {
		l = newLimiter(m.rateLocked())
		m.limits[region] = l
	}
	return l
}

// claimLimit is how many keys one claim takes: Batch, or fewer when this replica's share of the
// ceiling could not probe that many in an eighth of the lease (a batch of one region's keys alone).
// A sweep holds about four batches' keys at once (see Sweep), so that every key claimed is probed
// within half its lease: a ceiling too small for the keys makes probes late rather than leases lapse.
func (m *Monitor) claimLimit() int {
	probesPerSecond := float64(limit(m.ProbeRate())) / callsPerProbe
	return max(1, min(m.cfg.Batch, int(probesPerSecond*m.cfg.Lease.Seconds()/8)))
}

// Name names the monitor among the background services.
func (m *Monitor) Name() string { return "key-health-monitor" }

// Run beats and sweeps until ctx is cancelled, then leaves.
func (m *Monitor) Run(ctx context.Context) error {
	m.heartbeat(ctx) // before the first sweep, so that it already runs at this replica's share
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		m.heartbeats(ctx)
	}()
	defer func() {
		<-beatDone
		leaveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := m.Leave(leaveCtx); err != nil {
			m.svc.log.WarnContext(ctx, "leave the monitor fleet", "error", err.Error())
		}
	}()
	tick := min(m.svc.interval/4, time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if _, err := m.Sweep(ctx); err != nil && ctx.Err() == nil {
			m.svc.log.ErrorContext(ctx, "key health sweep failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// heartbeats beats every beat until ctx is cancelled.
func (m *Monitor) heartbeats(ctx context.Context) {
	t := time.NewTicker(m.beat())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.heartbeat(ctx)
	}
}

func (m *Monitor) heartbeat(ctx context.Context) {
	if err := m.Heartbeat(ctx); err != nil && ctx.Err() == nil {
		m.svc.log.WarnContext(ctx, "monitor heartbeat failed", "error", err.Error())
	}
}

// Sweep claims and probes due keys, batch after batch, until none is due; it returns how many keys
// it probed. A claimed batch is written back once its last probe is in: every result that changes
// nothing (most: a healthy key found healthy) in one statement for the whole batch, and each of the
// others in a transaction of its own, as Apply writes it. So a sweep asks the database about twice
// per batch, not several times per key, while every result is still written under the lease and row
// lock that Apply checks.
//
// Its probes run on Concurrency workers that live for the whole sweep and take keys from a queue one
// batch long, rather than on a goroutine started per key: starting one, and waking an idle processor
// for it, cost the sweep about a tenth of a probe's CPU.
//
// When the ceiling is too small for the keys, fewer keys are held at once (claimLimit): a batch's
// worth of workers, each holding a key while it waits for the ceiling, a batch queued and one claimed
// ahead, probed well within their leases.
func (m *Monitor) Sweep(ctx context.Context) (int, error) {
	total := 0
	most := m.claimLimit()
	jobs := make(chan probeJob, most)
	var wg sync.WaitGroup
	for range min(m.cfg.Concurrency, most) {
		wg.Go(func() { m.prober(ctx, jobs) })
	}
	defer wg.Wait()
	defer close(jobs)
	// The next batch is claimed while this one's probes run, so that no worker waits for a claim's
	// round trip; at most one batch is claimed ahead.
	claimCtx, stopClaims := context.WithCancel(ctx)
	defer stopClaims()
	claims := make(chan claim)
	var claimErr error
	claimed := make(chan struct{})
	go func() {
		defer close(claimed)
		claimErr = m.claimAhead(claimCtx, claims)
	}()
	for c := range claims {
		// A batch's probes must be in while its lease holds (three quarters of it, to leave room for
		// the write): one deadline for the batch, from its claim.
		due := c.due
		b := &batch{due: due, outcomes: make([]*Outcome, len(due))}
		b.ctx, b.cancel = context.WithDeadline(ctx, c.at.Add(m.cfg.Lease*3/4))
		b.left.Store(int64(len(due)))
		for i := range due {
			select {
			case jobs <- probeJob{b, i}:
			case <-ctx.Done():
				b.cancel()
				return total, nil
			}
		}
		total += len(due)
	}
	<-claimed
	if ctx.Err() != nil {
		return total, nil
	}
	return total, claimErr
}

// probeJob is one key of a batch for a prober.
type probeJob struct {
	b *batch
	i int
}

// prober probes the keys it takes from jobs until jobs closes; the prober of a batch's last key
// writes the batch back.
func (m *Monitor) prober(ctx context.Context, jobs <-chan probeJob) {
	for j := range jobs {
		j.b.outcomes[j.i] = m.probeOne(j.b.ctx, j.b.due[j.i])
		if j.b.left.Add(-1) == 0 {
			j.b.cancel()
			m.save(ctx, j.b)
		}
	}
}

// claim is a batch of claimed keys and when (on the wall clock, which the batch's deadline is on) the
// claim was made.
type claim struct {
	due []store.Due
	at  time.Time
}

// claimAhead claims batches of due keys and hands them to claims, each claim starting where the last
// batch was due, until a batch comes back short or ctx ends; then it closes claims.
func (m *Monitor) claimAhead(ctx context.Context, claims chan<- claim) error {
	defer close(claims)
	var from time.Time // when the last batch was due: the next claim starts there
	for ctx.Err() == nil {
		most := m.claimLimit()
		at := time.Now()
		due, err := m.svc.store.ClaimDueFrom(ctx, m.cfg.Owner, m.cfg.Clock.Now().UTC(), from, m.cfg.Lease, most)
		if err != nil {
			return err
		}
		for _, d := range due {
			if d.Due.After(from) {
				from = d.Due
			}
		}
		select {
		case claims <- claim{due, at}:
		case <-ctx.Done():
			return nil
		}
		if len(due) < most {
			return nil
		}
	}
	return nil
}

// batch is one claim's keys and, as they come in, their probes' outcomes (nil: not probed).
type batch struct {
	ctx      context.Context // the batch's probes', until its lease is nearly out
	cancel   context.CancelFunc
	due      []store.Due
	outcomes []*Outcome
	left     atomic.Int64 // probes not yet in
}

// probeOne probes a claimed key within the region's share of the ceiling; nil when cancelled first
// (the lease runs out and another sweep takes the key).
func (m *Monitor) probeOne(ctx context.Context, d store.Due) *Outcome {
	if err := m.limiter(d.Region).WaitN(ctx, callsPerProbe); err != nil {
		return nil
	}
	late := max(0, m.cfg.Clock.Now().Sub(d.Due))
	m.achieved.WithLabelValues(d.Region).Set((m.svc.interval + late).Seconds())
	o := m.svc.Probe(ctx, d.OrgID, d.Region, d.KeyARN)
	return &o
}

// save writes a batch's outcomes: those that change nothing in one statement, the rest (and any the
// statement found changing something after all, or whose lease it found gone) through apply, which
// drops a result whose lease has run out.
func (m *Monitor) save(ctx context.Context, b *batch) {
	now := m.svc.store.Now()
	var quiet []store.ProbeNoChange
	for i, d := range b.due {
		if o := b.outcomes[i]; o != nil && o.Kind != CustomerCaused {
			quiet = append(quiet, store.ProbeNoChange{OrgID: d.OrgID, Region: d.Region, Purpose: d.Purpose, Row: d.Row,
				Healthy: o.Kind == Healthy, Error: o.Error, NextProbeAt: m.svc.nextProbe(now, d.EventsAt)})
		}
	}
	written, err := m.svc.store.SaveNoChanges(ctx, m.cfg.Owner, now, quiet)
	if err != nil && ctx.Err() == nil {
		m.svc.log.ErrorContext(ctx, "save probe results", "keys", len(quiet), "error", err.Error())
	}
	done := make(map[Key]bool, len(written))
	for _, w := range written {
		done[Key{w.OrgID, w.Region, w.Purpose}] = true
	}
	for i, d := range b.due {
		k := Key{d.OrgID, d.Region, d.Purpose}
		if b.outcomes[i] == nil || done[k] {
			continue
		}
		if _, _, err := m.svc.apply(ctx, k, m.cfg.Owner, "monitor", *b.outcomes[i], nil); err != nil && ctx.Err() == nil {
			m.svc.log.ErrorContext(ctx, "apply probe result", "org_id", d.OrgID, "region", d.Region, "purpose", d.Purpose,
				"key_arn", d.KeyARN, "error", err.Error())
		}
	}
}
