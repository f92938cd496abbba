package keyevents

import (
	"context"
	"sync"
	"time"

	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/health"
)

// probeTimeout bounds one probe an event asks for; verification's own KMS timeouts come first.
const probeTimeout = time.Minute

// coalescer runs the probes key events ask for: at most one per key per `every`, and hints that
// arrive while one runs or waits share the next one. A hint arriving during a probe may report a
// change the probe did not see yet, so it is followed by one more probe, never dropped. It holds
// per replica: replicas that each get a hint about a key probe it once each.
type coalescer struct {
	every time.Duration
	clock clock.Clock
	probe func(ctx context.Context, k health.Key, keyARN string)

	ctx    context.Context // the probes', cancelled when run returns
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	keys    map[health.Key]*slot
}

// slot is one key's probes: whether one runs (or waits its turn), whether another is asked for,
// and when the last began.
type slot struct {
	arn              string
	running, pending bool
	last             time.Time
}

func newCoalescer(every time.Duration, clk clock.Clock, probe func(context.Context, health.Key, string)) *coalescer {
	ctx, cancel := context.WithCancel(context.Background())
	return &coalescer{every: every, clock: clk, probe: probe, ctx: ctx, cancel: cancel, keys: map[health.Key]*slot{}}
}

// hint asks for a probe of key k (linked as arn).
func (c *coalescer) hint(k health.Key, arn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	s, ok := c.keys[k]
	if !ok {
		s = &slot{}
		c.keys[k] = s
	}
	s.arn = arn
	if s.running {
		s.pending = true
		return
	}
	s.running = true
	c.wg.Add(1)
	go c.loop(k, s)
}

// loop probes key k until no hint is left, each probe `every` after the last began.
func (c *coalescer) loop(k health.Key, s *slot) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		wait := s.last.Add(c.every).Sub(c.clock.Now())
		c.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		c.mu.Lock()
		s.last, s.pending = c.clock.Now(), false
		arn := s.arn
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(c.ctx, probeTimeout)
		c.probe(ctx, k, arn)
		cancel()
		c.mu.Lock()
		if !s.pending || c.ctx.Err() != nil {
			s.running = false
			c.forgetLater(k, s)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// forgetLater drops key k's slot once its last probe is `every` old and no other began, so the map
// holds only keys probed lately. c.mu is held.
func (c *coalescer) forgetLater(k health.Key, s *slot) {
	time.AfterFunc(c.every, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !s.running && c.keys[k] == s {
			delete(c.keys, k)
		}
	})
}

// run waits for ctx to end, then stops the probes and waits for those in flight.
func (c *coalescer) run(ctx context.Context) error {
	<-ctx.Done()
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}
