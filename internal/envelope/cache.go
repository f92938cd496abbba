package envelope

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cmekd/cmekd/internal/clock"
)

// CacheOptions configure a Cache.
type CacheOptions struct {
	// TTL is how long a plaintext data key may live after it was loaded; it must be positive.
	TTL time.Duration
	// MaxEntries bounds the cache; beyond it the least recently used keys are evicted and wiped.
	MaxEntries int
	// Clock tells the time; nil means the wall clock.
	Clock clock.Clock
	// Registerer receives the cache's metrics; nil means no metrics.
	Registerer prometheus.Registerer
}

// Cache holds plaintext data keys only in memory, bounded in size and age, and wipes each key when it
// leaves. Concurrent misses for one key make one load.
//
// A key is only ever lent to a function run by Use. An evicted key is wiped as soon as no such function
// is using it, so eviction never pulls a key from under a running function and never waits for one.
type Cache struct {
	ttl        time.Duration
	maxEntries int
	clock      clock.Clock
	metrics    *metrics

	mu      sync.Mutex
	entries map[ref]*entry
	byKey   map[string]map[*entry]struct{} // wrapping KMS key ARN → its entries, for DropKey
	lru     list.List                      // of *entry, most recently used first
	byAge   list.List                      // of *entry, oldest load first: the order in which they expire
	flights map[ref]*flight
	gen     uint64 // bumped by Purge, so that a load running across it is not cached
}

// ref names a cached key: the data key's id and the KMS key whose wrapped copy it was unwrapped from
// (or generated under), so that the keys of a KMS key found unusable can be dropped together.
type ref struct{ id, keyARN string }

// entry is one plaintext data key. Its links and id are guarded by Cache.mu; refs is taken under
// Cache.mu but dropped without it, which is why the fields the releaser reads are atomic.
type entry struct {
	ref      ref
	key      []byte
	loadedAt time.Time
	lru, age *list.Element

	refs    atomic.Int64 // functions running with key
	evicted atomic.Bool  // out of the cache: whoever sees refs reach zero wipes key
	wiped   atomic.Bool  // makes the wipe happen once when the evictor and the last user race to it
}

// flight is one load of a missing key that concurrent callers wait for.
type flight struct {
	done    chan struct{} // closed when e or err is set
	gen     uint64        // Cache.gen when the load started
	dropped bool          // DropKey ran for its KMS key during the load; guarded by Cache.mu
	waiters int64         // callers that will each own one reference to e; guarded by Cache.mu
	e       *entry
	err     error
	// retry says the load failed only because the loading caller's context ended, which is no answer
	// for the others: they start a load of their own.
	retry bool
}

// errLoadPanicked is what callers waiting on a load get when the loader panicked.
var errLoadPanicked = errors.New("envelope: data key loader panicked")

// NewCache returns an empty cache. It panics when TTL or MaxEntries is not positive, or when a metric
// of the same name but another kind is registered with opts.Registerer: both are programming errors.
func NewCache(opts CacheOptions) *Cache {
	if opts.TTL <= 0 || opts.MaxEntries <= 0 {
		panic(fmt.Sprintf("envelope: NewCache needs a positive TTL and MaxEntries, got %v and %d", opts.TTL, opts.MaxEntries))
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		panic(err)
	}
	return &Cache{
		ttl:        opts.TTL,
		maxEntries: opts.MaxEntries,
		clock:      clock.Or(opts.Clock),
		metrics:    m,
		entries:    map[ref]*entry{},
		byKey:      map[string]map[*entry]struct{}{},
		flights:    map[ref]*flight{},
	}
}

// Use runs fn with the plaintext data key id unwrapped from its copy under KMS key keyARN, loading it
// with load on a miss or when the cached copy is older than TTL. The key must not escape fn: once fn returns, an evicted key may be wiped. Callers that
// miss the same id together share one load, made with the first caller's ctx; the others wait for it
// as long as their own ctx allows. load hands its slice to the cache, which wipes it on eviction; load's
// error is returned as is and not cached.
func (c *Cache) Use(ctx context.Context, id, keyARN string, load func(context.Context) ([]byte, error), fn func(key []byte) error) error {
	e, err := c.acquire(ctx, ref{id, keyARN}, load)
	if err != nil {
		return err
	}
	defer c.release(e)
	return fn(e.key)
}

// TryUse is Use for a key the cache holds already: it runs fn and reports true on a hit, and on a
// miss runs nothing and reports false at once, without loading the key or waiting for a load under
// way. It is for a caller that must not wait (one reading rows off a database connection, which a
// load may need).
func (c *Cache) TryUse(id, keyARN string, fn func(key []byte) error) (bool, error) {
	c.mu.Lock()
	now := c.clock.Now()
	c.sweepLocked(now)
	e := c.entries[ref{id, keyARN}]
	if e == nil || c.expired(e, now) {
		c.mu.Unlock()
		return false, nil
	}
	e.refs.Add(1)
	c.lru.MoveToFront(e.lru)
	c.mu.Unlock()
	c.metrics.hits.Inc()
	defer c.release(e)
	return true, fn(e.key)
}

// acquire returns the fresh entry for id with a reference taken, loading it if need be.
func (c *Cache) acquire(ctx context.Context, id ref, load func(context.Context) ([]byte, error)) (*entry, error) {
	for missed := false; ; missed = true {
		c.mu.Lock()
		now := c.clock.Now()
		c.sweepLocked(now)
		e := c.entries[id]
		if e != nil && c.expired(e, now) {
			c.evictLocked(e, evictTTL)
			e = nil
		}
		if e != nil {
			e.refs.Add(1)
			c.lru.MoveToFront(e.lru)
			c.mu.Unlock()
			c.metrics.hits.Inc()
			return e, nil
		}
		f := c.flights[id]
		leader := f == nil
		if leader {
			f = &flight{done: make(chan struct{}), gen: c.gen}
			c.flights[id] = f
		}
		f.waiters++
		c.mu.Unlock()
		if !missed {
			c.metrics.misses.Inc()
		}

		if leader {
			c.load(ctx, id, f, load)
			return f.e, f.err
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			c.mu.Lock()
			select {
			case <-f.done:
				// The load ended meanwhile and counted this caller in: give its reference back.
				c.mu.Unlock()
				if f.e != nil {
					c.release(f.e)
				}
			default:
				f.waiters--
				c.mu.Unlock()
			}
			return nil, ctx.Err()
		}
		if f.retry {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			continue
		}
		return f.e, f.err
	}
}

// load runs the loader of flight f and settles f. A panicking loader still settles f, so that its
// waiters do not hang, and then panics on.
func (c *Cache) load(ctx context.Context, id ref, f *flight, load func(context.Context) ([]byte, error)) {
	settled := false
	defer func() {
		if !settled {
			c.settle(id, f, nil, errLoadPanicked, false)
		}
	}()
	key, err := load(ctx)
	settled = true
	c.settle(id, f, key, err, err != nil && ctx.Err() != nil)
}

// settle ends flight f with key or err and wakes its waiters. A loaded key is cached, unless Purge ran
// during the load, and comes with one reference for each waiter.
func (c *Cache) settle(id ref, f *flight, key []byte, err error, retry bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.flights, id)
	f.err, f.retry = err, retry
	if err == nil {
		now := c.clock.Now()
		c.sweepLocked(now)
		f.e = &entry{ref: id, key: key, loadedAt: now}
		f.e.refs.Store(f.waiters)
		if f.gen == c.gen && !f.dropped {
			c.insertLocked(f.e)
		} else {
			f.e.evicted.Store(true)
		}
	}
	close(f.done)
}

// release returns a reference taken by acquire, and wipes the key if it was the last one to an
// evicted entry.
func (c *Cache) release(e *entry) {
	if e.refs.Add(-1) == 0 && e.evicted.Load() {
		e.wipe()
	}
}

// wipe zeroes the key once.
func (e *entry) wipe() {
	if e.wiped.CompareAndSwap(false, true) {
		Wipe(e.key)
	}
}

// Put caches a copy of key, a data key id just generated under KMS key keyARN (GenerateDataKey's
// plaintext), so that the writer does not Decrypt it back. The caller still owns key and should wipe it.
func (c *Cache) Put(id, keyARN string, key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	c.sweepLocked(now)
	c.insertLocked(&entry{ref: ref{id, keyARN}, key: bytes.Clone(key), loadedAt: now})
}

// insertLocked caches e as the most recently used entry, replacing any entry of the same id, and
// evicts the least recently used ones beyond MaxEntries.
func (c *Cache) insertLocked(e *entry) {
	if old := c.entries[e.ref]; old != nil {
		c.removeLocked(old)
	}
	c.entries[e.ref] = e
	set := c.byKey[e.ref.keyARN]
	if set == nil {
		set = map[*entry]struct{}{}
		c.byKey[e.ref.keyARN] = set
	}
	set[e] = struct{}{}
	e.lru = c.lru.PushFront(e)
	e.age = c.byAge.PushBack(e)
	c.metrics.entries.Inc()
	for len(c.entries) > c.maxEntries {
		c.evictLocked(c.lru.Back().Value.(*entry), evictSize)
	}
}

// evictLocked removes e for reason and counts it.
func (c *Cache) evictLocked(e *entry, reason evictReason) {
	c.removeLocked(e)
	c.metrics.evictions[reason].Inc()
}

// removeLocked takes e out of the cache and wipes its key, now if no function uses it, or else when
// the last one returns.
func (c *Cache) removeLocked(e *entry) {
	delete(c.entries, e.ref)
	if set := c.byKey[e.ref.keyARN]; len(set) <= 1 {
		delete(c.byKey, e.ref.keyARN)
	} else {
		delete(set, e)
	}
	c.lru.Remove(e.lru)
	c.byAge.Remove(e.age)
	c.metrics.entries.Dec()
	// Stored before refs is read, and release decrements refs before it reads evicted: of the two
	// sides, at least the later one sees both changes and wipes.
	e.evicted.Store(true)
	if e.refs.Load() == 0 {
		e.wipe()
	}
}

// sweepLocked evicts the entries older than TTL at now, oldest first.
func (c *Cache) sweepLocked(now time.Time) {
	for el := c.byAge.Front(); el != nil; el = c.byAge.Front() {
		e := el.Value.(*entry)
		if !c.expired(e, now) {
			return
		}
		c.evictLocked(e, evictTTL)
	}
}

// expired says whether e is older than TTL at now. Use asks it again after sweeping because the sweep
// trusts load order, which an injected clock that steps back can break; the TTL bound must not.
func (c *Cache) expired(e *entry, now time.Time) bool {
	return now.Sub(e.loadedAt) > c.ttl
}

// Sweep evicts and wipes every key older than TTL. Use and Put sweep as they go, so Sweep matters to a
// cache that sits idle: call it periodically to bound how long an unused key stays in memory.
func (c *Cache) Sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(c.clock.Now())
}

// Len reports how many keys the cache holds, counting expired ones not swept yet.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Purge evicts and wipes every key, for shutdown. A key in use is wiped when its function returns; a
// load running across Purge serves its callers but is not cached.
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for el := c.lru.Front(); el != nil; el = c.lru.Front() {
		c.evictLocked(el.Value.(*entry), evictPurge)
	}
}

// DropKey evicts and wipes every data key unwrapped from (or generated under) KMS key keyARN, for a key
// cmekd has found unusable: reads after it need KMS Decrypt, which the unusable key refuses, so they
// fail at once rather than when the TTL runs out. A key in use is wiped when its function
// returns; a load running across DropKey serves its callers but is not cached. It reports how many
// keys it dropped.
func (c *Cache) DropKey(keyARN string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for r, f := range c.flights {
		if r.keyARN == keyARN {
			f.dropped = true
		}
	}
	n := 0
	for e := range c.byKey[keyARN] {
		c.evictLocked(e, evictKey)
		n++
	}
	return n
}
