package health_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

const interval = time.Minute

type fixture struct {
	st    *store.Store
	svc   *health.Service
	clock *testkit.Clock
	kms   *kmstest.Env
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := testkit.NewClock(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	st := testkit.OpenStore(t, testkit.Database(t), store.Options{Clock: clk})
	env := kmstest.StartEmulator(t)
	svc := newService(t, env, health.Config{Store: st, Interval: interval})
	return &fixture{st: st, svc: svc, clock: clk, kms: env}
}

// link stores a customer-managed organisation on a fresh key with one active collection.
func (f *fixture) link(t *testing.T, n int) (orgID, keyARN, colID string) {
	t.Helper()
	keyARN = f.kms.CreateCustomerKey(t, f.kms.Region, kmstest.KeyOptions{})
	orgID, colID = domain.NewID("org"), domain.NewID("col")
	err := f.st.InTx(context.Background(), func(tx *store.Q) error {
		if err := tx.InsertOrg(context.Background(), domain.Org{ID: orgID, Name: fmt.Sprint("org ", n), Region: f.kms.Region,
			Mode: domain.ModeCustomerManaged, KeyARN: keyARN, CreatedAt: tx.Now()}); err != nil {
			return err
		}
		return tx.InsertCollection(context.Background(), domain.Collection{ID: colID, OrgID: orgID, Name: "c", Region: f.kms.Region,
			State: domain.StateActive, StateChangedAt: tx.Now(), Recoverable: true, CreatedAt: tx.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	return orgID, keyARN, colID
}

func (f *fixture) monitor(owner string) *health.Monitor {
	return health.NewMonitor(f.svc, health.MonitorConfig{Owner: owner, MaxRPS: 1000, Clock: f.clock})
}

func (f *fixture) state(t *testing.T, orgID, colID string) string {
	t.Helper()
	c, err := f.st.Collection(context.Background(), orgID, colID)
	if err != nil {
		t.Fatal(err)
	}
	return c.State
}

func sweep(t *testing.T, m *health.Monitor) int {
	t.Helper()
	n, err := m.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMonitor_EachKeyOncePerIntervalAcrossReplicas: two replicas sweeping at once probe each key once.
func TestMonitor_EachKeyOncePerIntervalAcrossReplicas(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const keys = 12
	for i := range keys {
		f.link(t, i)
	}
	a, b := f.monitor("a"), f.monitor("b")
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, m := range []*health.Monitor{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); counts[i] = sweep(t, m) }()
	}
	wg.Wait()
	if counts[0]+counts[1] != keys {
		t.Fatalf("replicas probed %v keys, want %d in all", counts, keys)
	}
	if n := sweep(t, a) + sweep(t, b); n != 0 {
		t.Fatalf("%d keys probed again within the interval", n)
	}
	f.clock.Advance(interval * 11 / 10) // past the interval plus the largest jitter
	if n := sweep(t, a) + sweep(t, b); n != keys {
		t.Fatalf("%d keys probed in the next interval, want %d", n, keys)
	}
}

// TestMonitor_DeadReplicasKeysAreTakenOver: keys claimed by a replica that died are probed by
// another once the lease (one interval) runs out.
func TestMonitor_DeadReplicasKeysAreTakenOver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.link(t, 0)
	f.link(t, 1)
	claimed, err := f.st.ClaimDue(context.Background(), "dead", f.clock.Now(), interval, 100)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	live := f.monitor("live")
	if n := sweep(t, live); n != 0 {
		t.Fatalf("probed %d keys under a live lease", n)
	}
	f.clock.Advance(interval)
	if n := sweep(t, live); n != 2 {
		t.Fatalf("took over %d keys, want 2", n)
	}
}

// TestMonitor_PausesAfterHoursWithAFakeClock crosses six hours without sleeping.
func TestMonitor_PausesAfterHoursWithAFakeClock(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	orgID, keyARN, colID := f.link(t, 0)
	m := f.monitor("m")
	f.kms.DisableKey(t, keyARN)
	sweep(t, m)
	if s := f.state(t, orgID, colID); s != domain.StateIngestHalted {
		t.Fatalf("after the first failed probe: %s", s)
	}
	for end := f.clock.Now().Add(5 * time.Hour); f.clock.Now().Before(end); { // five hours of probes
		f.clock.Advance(interval * 11 / 10)
		sweep(t, m)
	}
	if s := f.state(t, orgID, colID); s != domain.StateIngestHalted {
		t.Fatalf("after five hours: %s", s)
	}
	f.clock.Advance(90 * time.Minute)
	sweep(t, m)
	if s := f.state(t, orgID, colID); s != domain.StatePaused {
		t.Fatalf("after more than six hours: %s", s)
	}
	f.kms.EnableKey(t, keyARN)
	f.clock.Advance(2 * interval)
	sweep(t, m)
	if s := f.state(t, orgID, colID); s != domain.StatePaused {
		t.Fatalf("a paused collection came back by itself: %s", s)
	}
	keys, err := f.st.KeyHealth(context.Background(), orgID)
	if err != nil || keys[0].Status != domain.KeyHealthy {
		t.Fatalf("key health %+v %v", keys, err)
	}
}

// TestMonitor_ReplicasShareTheProbeCeiling: CMEKD_PROBE_MAX_RPS holds for the fleet. Replicas that beat
// split it equally; a replica that stops beating, or leaves, gives its share back.
func TestMonitor_ReplicasShareTheProbeCeiling(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	beat := func(ms ...*health.Monitor) {
		t.Helper()
		for _, m := range ms {
			if err := m.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, b, c := f.monitor("a"), f.monitor("b"), f.monitor("c")
	if r := a.ProbeRate(); r != 1000 {
		t.Fatalf("a lone monitor probes at %v, want the whole ceiling", r)
	}
	beat(a, b, c, a, b)
	for name, m := range map[string]*health.Monitor{"a": a, "b": b} {
		if r := m.ProbeRate(); r < 333 || r > 334 {
			t.Fatalf("%s probes at %v with three replicas, want a third of 1000", name, r)
		}
	}
	// c dies: after the missed beats (well within an interval) the other two split the ceiling.
	f.clock.Advance(interval)
	beat(a, b, a)
	if r := a.ProbeRate(); r != 500 {
		t.Fatalf("a probes at %v after c died, want 500", r)
	}
	// b leaves on shutdown: a takes the whole ceiling at its next beat.
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	beat(a)
	if r := a.ProbeRate(); r != 1000 {
		t.Fatalf("a probes at %v alone, want 1000", r)
	}
	// The monitor still probes every due key at its share.
	f.link(t, 0)
	if n := sweep(t, a); n != 1 {
		t.Fatalf("swept %d keys, want 1", n)
	}
}
