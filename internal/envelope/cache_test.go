package envelope_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cmekd/cmekd/internal/envelope"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

const ttl = 5 * time.Minute

// testKeyARN and otherKeyARN are the KMS keys the tests' data keys are wrapped by.
const (
	testKeyARN  = "arn:aws:kms:us-west-2:111122223333:key/11111111-1111-1111-1111-111111111111"
	otherKeyARN = "arn:aws:kms:us-west-2:111122223333:key/22222222-2222-2222-2222-222222222222"
)

func newClock() *testkit.Clock { return testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }

// keyFor is the data key the loaders of these tests unwrap for id.
func keyFor(id string) []byte {
	k := sha256.Sum256([]byte(id))
	return k[:]
}

// loader stands in for KMS Decrypt: each call hands out a fresh slice holding keyFor(id), and the
// loader keeps every slice so that tests can see whether the cache wiped it.
type loader struct {
	mu     sync.Mutex
	handed map[string][][]byte
}

func newLoader() *loader { return &loader{handed: map[string][][]byte{}} }

func (l *loader) For(id string) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		k := keyFor(id)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.handed[id] = append(l.handed[id], k)
		return k, nil
	}
}

// Loads reports how many times id was loaded.
func (l *loader) Loads(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.handed[id])
}

// Handed returns the n-th slice handed out for id.
func (l *loader) Handed(t *testing.T, id string, n int) []byte {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if n >= len(l.handed[id]) {
		t.Fatalf("%s was loaded %d times, want at least %d", id, len(l.handed[id]), n+1)
	}
	return l.handed[id][n]
}

// All returns every slice handed out.
func (l *loader) All() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all [][]byte
	for _, ks := range l.handed {
		all = append(all, ks...)
	}
	return all
}

func isZero(b []byte) bool {
	return len(b) > 0 && bytes.Count(b, []byte{0}) == len(b)
}

// use runs Use for id and fails the test unless fn got keyFor(id).
func use(t *testing.T, c *envelope.Cache, l *loader, id string) {
	t.Helper()
	err := c.Use(t.Context(), id, testKeyARN, l.For(id), func(key []byte) error {
		if !bytes.Equal(key, keyFor(id)) {
			return fmt.Errorf("fn got key %x, want %x", key, keyFor(id))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Use(%s): %v", id, err)
	}
}

// noLoad is a loader for uses that must be hits.
func noLoad(t *testing.T) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		t.Error("unexpected load")
		return nil, errors.New("unexpected load")
	}
}

// meteredCache is a cache of ttl and maxEntries (and clk, when not nil) that reports to a registry of
// its own, with a fresh loader.
func meteredCache(maxEntries int, clk *testkit.Clock) (*envelope.Cache, *loader, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	opts := envelope.CacheOptions{TTL: ttl, MaxEntries: maxEntries, Registerer: reg}
	if clk != nil {
		opts.Clock = clk
	}
	return envelope.NewCache(opts), newLoader(), reg
}

// hit runs Use for id under keyARN and fails the test if it loads or fails.
func hit(t *testing.T, c *envelope.Cache, id, keyARN string) {
	t.Helper()
	if err := c.Use(t.Context(), id, keyARN, noLoad(t), func([]byte) error { return nil }); err != nil {
		t.Error(err)
	}
}

// gatedLoad is a loader of dek_a that waits until release is closed, and the key it then hands out.
func gatedLoad() (load func(context.Context) ([]byte, error), handed []byte, release chan struct{}) {
	release = make(chan struct{})
	handed = keyFor("dek_a")
	return func(context.Context) ([]byte, error) { <-release; return handed, nil }, handed, release
}

// metricValues reads every cache series from reg as "name" or "name{reason}" → value.
func metricValues(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				values[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				values[name] = m.GetGauge().GetValue()
			}
		}
	}
	return values
}

func TestCache_ReloadsOnlyWhenOlderThanTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		age       time.Duration
		wantLoads int
	}{
		{"fresh", 0, 1},
		{"just under TTL", ttl - time.Nanosecond, 1},
		{"exactly TTL", ttl, 1},
		{"just over TTL", ttl + time.Nanosecond, 2},
		{"long expired", 10 * ttl, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 10, Clock: clk})
			l := newLoader()
			use(t, c, l, "dek_a")
			clk.Advance(tc.age)
			use(t, c, l, "dek_a")

			if got := l.Loads("dek_a"); got != tc.wantLoads {
				t.Errorf("loads = %d, want %d", got, tc.wantLoads)
			}
			if expired := tc.wantLoads == 2; isZero(l.Handed(t, "dek_a", 0)) != expired {
				t.Errorf("first copy zeroed = %v, want %v", !expired, expired)
			}
			if c.Len() != 1 {
				t.Errorf("Len = %d, want 1", c.Len())
			}
		})
	}
}

func TestCache_TTLHoldsWhenTheClockStepsBack(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 10, Clock: clk})
	l := newLoader()
	use(t, c, l, "dek_a")
	clk.Advance(-time.Minute)
	use(t, c, l, "dek_b") // loaded after dek_a, yet older by the clock
	clk.Advance(ttl + time.Second)
	use(t, c, l, "dek_b")

	if got := l.Loads("dek_b"); got != 2 {
		t.Errorf("dek_b older than TTL was loaded %d times, want 2", got)
	}
	if !isZero(l.Handed(t, "dek_b", 0)) {
		t.Error("expired dek_b not wiped")
	}
}

func TestCache_EvictsLeastRecentlyUsedAndWipesIt(t *testing.T) {
	t.Parallel()
	c, l, reg := meteredCache(2, nil)
	use(t, c, l, "dek_a")
	use(t, c, l, "dek_b")
	use(t, c, l, "dek_a") // b is now the least recently used
	use(t, c, l, "dek_c")

	if !isZero(l.Handed(t, "dek_b", 0)) {
		t.Errorf("evicted key not wiped: %x", l.Handed(t, "dek_b", 0))
	}
	for _, id := range []string{"dek_a", "dek_c"} {
		if isZero(l.Handed(t, id, 0)) {
			t.Errorf("%s wiped while cached", id)
		}
		hit(t, c, id, testKeyARN)
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
	if got := metricValues(t, reg)["cmekd_dek_cache_evictions_total{size}"]; got != 1 {
		t.Errorf("size evictions = %v, want 1", got)
	}
}

func TestCache_WipesKeyEvictedInUseOnlyAfterFnReturns(t *testing.T) {
	t.Parallel()
	c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 1})
	l := newLoader()
	err := c.Use(t.Context(), "dek_a", testKeyARN, l.For("dek_a"), func(key []byte) error {
		use(t, c, l, "dek_b") // evicts dek_a, which this fn still uses
		c.Purge()
		if !bytes.Equal(key, keyFor("dek_a")) {
			t.Errorf("key changed under a running fn: %x", key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"dek_a", "dek_b"} {
		if !isZero(l.Handed(t, id, 0)) {
			t.Errorf("%s not wiped once unused", id)
		}
	}
}

func TestCache_ConcurrentMissesMakeOneLoad(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 10, Registerer: reg})
		release := make(chan struct{})
		var loads atomic.Int32
		load := func(context.Context) ([]byte, error) {
			loads.Add(1)
			<-release
			return keyFor("dek_a"), nil
		}
		const n = 100
		errs := make(chan error, n)
		for range n {
			go func() {
				errs <- c.Use(context.Background(), "dek_a", testKeyARN, load, func(key []byte) error {
					if !bytes.Equal(key, keyFor("dek_a")) {
						return fmt.Errorf("fn got %x", key)
					}
					return nil
				})
			}()
		}
		synctest.Wait() // all n callers are waiting on the one load
		close(release)
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		if got := loads.Load(); got != 1 {
			t.Errorf("loads = %d, want 1", got)
		}
		if got := metricValues(t, reg)["cmekd_dek_cache_misses_total"]; got != n {
			t.Errorf("misses = %v, want %d", got, n)
		}
	})
}

func TestCache_DoesNotCacheLoadErrors(t *testing.T) {
	t.Parallel()
	c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 10})
	errKMS := errors.New("kms: key_disabled")
	calls := 0
	load := func(context.Context) ([]byte, error) {
		calls++
		if calls == 1 {
			return nil, errKMS
		}
		return keyFor("dek_a"), nil
	}
	ran := false
	err := c.Use(t.Context(), "dek_a", testKeyARN, load, func([]byte) error { ran = true; return nil })
	if err != errKMS { // the loader's error comes back as is, not wrapped
		t.Errorf("Use = %v, want the loader's error as is", err)
	}
	if ran {
		t.Error("fn ran without a key")
	}
	if c.Len() != 0 {
		t.Errorf("Len = %d after a failed load, want 0", c.Len())
	}
	if err := c.Use(t.Context(), "dek_a", testKeyARN, load, func([]byte) error { return nil }); err != nil {
		t.Errorf("Use after the key came back: %v", err)
	}
	if calls != 2 {
		t.Errorf("loads = %d, want 2", calls)
	}
}

func TestCache_WaitersLoadAgainWhenTheLoadingCallerGivesUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 10})
		var loads atomic.Int32
		load := func(ctx context.Context) ([]byte, error) {
			if loads.Add(1) == 1 {
				<-ctx.Done()
				return nil, fmt.Errorf("kms: %w", ctx.Err())
			}
			return keyFor("dek_a"), nil
		}
		noop := func([]byte) error { return nil }
		leaderCtx, cancel := context.WithCancel(context.Background())
		leaderErr := make(chan error)
		go func() { leaderErr <- c.Use(leaderCtx, "dek_a", testKeyARN, load, noop) }()
		synctest.Wait()
		waiterErr := make(chan error)
		go func() { waiterErr <- c.Use(context.Background(), "dek_a", testKeyARN, load, noop) }()
		synctest.Wait()
		cancel()

		if err := <-leaderErr; !errors.Is(err, context.Canceled) {
			t.Errorf("loading caller: %v, want its context's error", err)
		}
		if err := <-waiterErr; err != nil {
			t.Errorf("waiting caller got %v; it should have loaded the key itself", err)
		}
		if got := loads.Load(); got != 2 {
			t.Errorf("loads = %d, want 2", got)
		}
	})
}

func TestCache_WaiterStopsWaitingWithItsContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 10})
		load, handed, release := gatedLoad()
		noop := func([]byte) error { return nil }
		leaderErr := make(chan error)
		go func() { leaderErr <- c.Use(context.Background(), "dek_a", testKeyARN, load, noop) }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		waiterErr := make(chan error)
		go func() { waiterErr <- c.Use(ctx, "dek_a", testKeyARN, load, noop) }()
		synctest.Wait()
		cancel()
		if err := <-waiterErr; !errors.Is(err, context.Canceled) {
			t.Errorf("waiter: %v, want context.Canceled", err)
		}
		close(release)
		if err := <-leaderErr; err != nil {
			t.Error(err)
		}
		// Had the waiter kept a claim on the key, Purge could not wipe it.
		c.Purge()
		if !isZero(handed) {
			t.Error("key not wiped by Purge: the waiter that gave up still holds it")
		}
	})
}

func TestCache_PanickingLoaderReleasesWaiters(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 10})
		release := make(chan struct{})
		load := func(context.Context) ([]byte, error) { <-release; panic("loader bug") }
		noop := func([]byte) error { return nil }
		recovered := make(chan any)
		go func() {
			defer func() { recovered <- recover() }()
			_ = c.Use(context.Background(), "dek_a", testKeyARN, load, noop)
		}()
		synctest.Wait()
		waiterErr := make(chan error)
		go func() { waiterErr <- c.Use(context.Background(), "dek_a", testKeyARN, load, noop) }()
		synctest.Wait()
		close(release)
		if r := <-recovered; r != "loader bug" {
			t.Errorf("loading caller recovered %v, want the loader's panic", r)
		}
		if err := <-waiterErr; err == nil {
			t.Error("waiter got no error from a panicking load")
		}
		l := newLoader()
		use(t, c, l, "dek_a")
	})
}

func TestCache_PutServesWithoutLoad(t *testing.T) {
	t.Parallel()
	c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 10})
	generated := keyFor("dek_a")
	c.Put("dek_a", testKeyARN, generated)
	envelope.Wipe(generated) // the writer wipes its own copy
	err := c.Use(t.Context(), "dek_a", testKeyARN, noLoad(t), func(key []byte) error {
		if !bytes.Equal(key, keyFor("dek_a")) {
			t.Errorf("fn got %x, want the key that was put", key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d, want 1", c.Len())
	}
}

func TestCache_PurgeWipesEverything(t *testing.T) {
	t.Parallel()
	c, l, reg := meteredCache(10, nil)
	ids := []string{"dek_a", "dek_b", "dek_c"}
	for _, id := range ids {
		use(t, c, l, id)
	}
	c.Purge()
	for _, k := range l.All() {
		if !isZero(k) {
			t.Errorf("key not wiped by Purge: %x", k)
		}
	}
	if c.Len() != 0 {
		t.Errorf("Len = %d, want 0", c.Len())
	}
	m := metricValues(t, reg)
	if m["cmekd_dek_cache_evictions_total{purge}"] != 3 || m["cmekd_dek_cache_entries"] != 0 {
		t.Errorf("metrics after Purge: %v", m)
	}
	use(t, c, l, "dek_a")
	if got := l.Loads("dek_a"); got != 2 {
		t.Errorf("loads after Purge = %d, want 2", got)
	}
}

func TestCache_DropKeyWipesOnlyThatKeysDataKeys(t *testing.T) {
	t.Parallel()
	c, l, reg := meteredCache(10, nil)
	use(t, c, l, "dek_a")
	use(t, c, l, "dek_b")
	other := keyFor("dek_c")
	c.Put("dek_c", otherKeyARN, other)
	if n := c.DropKey(testKeyARN); n != 2 {
		t.Fatalf("DropKey dropped %d keys, want 2", n)
	}
	for _, id := range []string{"dek_a", "dek_b"} {
		if !isZero(l.Handed(t, id, 0)) {
			t.Errorf("%s not wiped by DropKey", id)
		}
	}
	// The other KMS key's data key is still served from memory.
	hit(t, c, "dek_c", otherKeyARN)
	if m := metricValues(t, reg); m["cmekd_dek_cache_evictions_total{key_unavailable}"] != 2 || m["cmekd_dek_cache_entries"] != 1 {
		t.Errorf("metrics after DropKey: %v", m)
	}
	// The next use needs the loader (KMS Decrypt) again.
	use(t, c, l, "dek_a")
	if got := l.Loads("dek_a"); got != 2 {
		t.Errorf("loads after DropKey = %d, want 2", got)
	}
	if n := c.DropKey(otherKeyARN); n != 1 || c.Len() != 1 {
		t.Errorf("DropKey(other) dropped %d, Len = %d; want 1 and 1", n, c.Len())
	}
}

// A key whose load was under way when the cache was wiped is handed to its caller but not kept.
func TestCache_KeyLoadedDuringAWipeIsNotCached(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		wipe func(c *envelope.Cache)
	}{
		{"DropKey", func(c *envelope.Cache) {
			c.DropKey(otherKeyARN) // another key's drop leaves this load alone
			c.DropKey(testKeyARN)
		}},
		{"Purge", func(c *envelope.Cache) { c.Purge() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 10})
				load, handed, release := gatedLoad()
				done := make(chan error)
				go func() {
					done <- c.Use(context.Background(), "dek_a", testKeyARN, load, func(key []byte) error {
						if !bytes.Equal(key, keyFor("dek_a")) {
							return fmt.Errorf("fn got %x", key)
						}
						return nil
					})
				}()
				synctest.Wait()
				tc.wipe(c)
				close(release)
				if err := <-done; err != nil {
					t.Error(err)
				}
				if c.Len() != 0 || !isZero(handed) {
					t.Errorf("a key loaded across %s was kept: Len = %d, key %x", tc.name, c.Len(), handed)
				}
			})
		})
	}
}

func TestCache_SweepEvictsExpiredKeys(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c, l, reg := meteredCache(10, clk)
	use(t, c, l, "dek_old")
	clk.Advance(3 * time.Minute)
	use(t, c, l, "dek_new")
	use(t, c, l, "dek_old") // recently used, but its age counts from its load
	clk.Advance(2*time.Minute + time.Second)
	c.Sweep()

	if !isZero(l.Handed(t, "dek_old", 0)) {
		t.Error("expired key not wiped by Sweep")
	}
	if isZero(l.Handed(t, "dek_new", 0)) || c.Len() != 1 {
		t.Errorf("Sweep took a fresh key: Len = %d", c.Len())
	}
	if got := metricValues(t, reg)["cmekd_dek_cache_evictions_total{ttl}"]; got != 1 {
		t.Errorf("ttl evictions = %v, want 1", got)
	}
}

func TestCache_FnNeverSeesAWipedKeyUnderConcurrentEviction(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 2, Clock: clk})
	l := newLoader()
	ids := []string{"dek_0", "dek_1", "dek_2", "dek_3", "dek_4"}
	const workers, rounds = 8, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				id := ids[(w+i)%len(ids)]
				err := c.Use(t.Context(), id, testKeyARN, l.For(id), func(key []byte) error {
					runtime.Gosched() // let evictions run while this fn holds the key
					if !bytes.Equal(key, keyFor(id)) {
						return fmt.Errorf("fn for %s saw %x", id, key)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Evictions of every kind race the users: size (above), TTL and Purge.
	wg.Go(func() {
		for i := range rounds {
			if i%2 == 0 {
				clk.Advance(ttl)
				c.Sweep()
			} else {
				c.Purge()
			}
			runtime.Gosched()
		}
	})
	wg.Wait()
	c.Purge()
	for _, k := range l.All() {
		if !isZero(k) {
			t.Fatalf("a key survived Purge with no user left: %x", k)
		}
	}
}

func TestCache_CountsHitsMissesAndEntries(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	// Two caches on one registry share the series instead of failing to register.
	first := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 1, Registerer: reg})
	second := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 10, Registerer: reg})
	l := newLoader()
	use(t, first, l, "dek_a")  // miss
	use(t, first, l, "dek_a")  // hit
	use(t, first, l, "dek_b")  // miss, evicts dek_a
	use(t, second, l, "dek_a") // miss
	second.Put("dek_c", testKeyARN, keyFor("dek_c"))
	use(t, second, l, "dek_c") // hit

	want := map[string]float64{
		"cmekd_dek_cache_hits_total":                       2,
		"cmekd_dek_cache_misses_total":                     3,
		"cmekd_dek_cache_entries":                          3,
		"cmekd_dek_cache_evictions_total{ttl}":             0,
		"cmekd_dek_cache_evictions_total{size}":            1,
		"cmekd_dek_cache_evictions_total{purge}":           0,
		"cmekd_dek_cache_evictions_total{key_unavailable}": 0,
	}
	if got := metricValues(t, reg); !maps.Equal(got, want) {
		t.Errorf("metrics = %v, want %v", got, want)
	}
}

func TestNewCache_PanicsOnBadOptions(t *testing.T) {
	t.Parallel()
	conflicting := prometheus.NewRegistry()
	conflicting.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "cmekd_dek_cache_hits_total", Help: "other"}))
	for _, tc := range []struct {
		name string
		opts envelope.CacheOptions
	}{
		{"zero TTL", envelope.CacheOptions{MaxEntries: 1}},
		{"negative TTL", envelope.CacheOptions{TTL: -time.Second, MaxEntries: 1}},
		{"no room", envelope.CacheOptions{TTL: ttl}},
		{"conflicting metric", envelope.CacheOptions{TTL: ttl, MaxEntries: 1, Registerer: conflicting}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("NewCache accepted bad options")
				}
			}()
			envelope.NewCache(tc.opts)
		})
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 1000, Registerer: prometheus.NewRegistry()})
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = fmt.Sprintf("dek_%d", i)
		c.Put(ids[i], testKeyARN, keyFor(ids[i]))
	}
	fail := func(context.Context) ([]byte, error) { return nil, errors.New("miss") }
	fn := func(key []byte) error {
		if len(key) != envelope.KeySize {
			return errors.New("bad key")
		}
		return nil
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for i := 0; pb.Next(); i++ {
			if err := c.Use(ctx, ids[i%len(ids)], testKeyARN, fail, fn); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestCache_TryUseRunsOnlyOnAHit: TryUse runs fn with the cached key and reports true; for a key not
// loaded, under another KMS key, or past the TTL it runs nothing, loads nothing and reports false.
func TestCache_TryUseRunsOnlyOnAHit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := envelope.NewCache(envelope.CacheOptions{TTL: ttl, MaxEntries: 10, Clock: clk})
	l := newLoader()
	ran := func(id, keyARN string) (bool, bool) {
		called := false
		hit, err := c.TryUse(id, keyARN, func(key []byte) error {
			called = true
			if !bytes.Equal(key, keyFor(id)) {
				t.Errorf("TryUse(%s) handed %x, want %x", id, key, keyFor(id))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return hit, called
	}
	if hit, called := ran("dek_a", testKeyARN); hit || called {
		t.Fatalf("a key never loaded: hit %v, fn ran %v", hit, called)
	}
	use(t, c, l, "dek_a")
	if hit, called := ran("dek_a", testKeyARN); !hit || !called {
		t.Fatalf("a cached key: hit %v, fn ran %v", hit, called)
	}
	if hit, called := ran("dek_a", testKeyARN+"-other"); hit || called {
		t.Fatalf("the key under another KMS key: hit %v, fn ran %v", hit, called)
	}
	clk.Advance(ttl + time.Nanosecond)
	if hit, called := ran("dek_a", testKeyARN); hit || called {
		t.Fatalf("a key past the TTL: hit %v, fn ran %v", hit, called)
	}
	if got := l.Loads("dek_a"); got != 1 {
		t.Errorf("loads = %d, want 1: TryUse never loads", got)
	}
	wantErr := errors.New("fn failed")
	use(t, c, l, "dek_b")
	if hit, err := c.TryUse("dek_b", testKeyARN, func([]byte) error { return wantErr }); !hit || !errors.Is(err, wantErr) {
		t.Errorf("fn's error: hit %v, %v", hit, err)
	}
}
