package access

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/cmekd/cmekd/internal/domain"
)

// PerKey bounds how often one caller may make the platform do expensive work on its behalf (key
// checks and probes-now drive KMS calls), in memory per replica: a token bucket per key (a token
// id, say). Buckets of keys not seen for a while are forgotten, so memory stays bounded by the
// callers of the last few minutes.
type PerKey struct {
	every time.Duration
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	limiter *rate.Limiter
	seen    time.Time
}

// NewPerKey allows each key one event every `every`, with bursts of up to burst.
func NewPerKey(every time.Duration, burst int) *PerKey {
	return &PerKey{every: every, burst: burst, buckets: map[string]*bucket{}}
}

// forgetAfter is how long an idle bucket is kept; a bucket refills fully well within it.
const forgetAfter = 10 * time.Minute

// Allow takes one event from key's bucket at now. When the bucket is empty it reports false and how
// long until an event is allowed again.
func (p *PerKey) Allow(key string, now time.Time) (bool, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.swept) > forgetAfter {
		for k, b := range p.buckets {
			if now.Sub(b.seen) > forgetAfter {
				delete(p.buckets, k)
			}
		}
		p.swept = now
	}
	b, ok := p.buckets[key]
	if !ok {
		b = &bucket{limiter: rate.NewLimiter(rate.Every(p.every), p.burst)}
		p.buckets[key] = b
	}
	b.seen = now
	r := b.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// RateLimited is 429 rate_limited, retryable after wait (at least a second).
func RateLimited(wait time.Duration) *domain.Error {
	e := domain.Errorf(domain.KindRateLimited, domain.CodeRateLimited, "too many requests of this kind; retry after the Retry-After seconds")
	e.RetryAfter = max(1, int(math.Ceil(wait.Seconds())))
	return e
}
