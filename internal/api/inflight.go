package api

import (
	"context"
	"math"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/cmekd/cmekd/internal/domain"
)

// DefaultMaxInflightBytes is the memory request bodies in flight may take together when
// Config.MaxInflightBytes is zero.
const DefaultMaxInflightBytes = 256 << 20

// memoryBase is what the server holds besides the request bodies it has reserved room for: its
// code, goroutines, caches, connections, and the small buffers of requests in flight (about 60 MiB of
// heap under the load of 32 large ingests at once), with room for the collector to work in.
const memoryBase = 128 << 20

// LimitMemory gives the Go runtime a soft memory limit of budget (the bytes request bodies in flight
// may hold together; 0 is DefaultMaxInflightBytes) plus memoryBase, unless GOMEMLIMIT sets one, and
// returns the limit in force. The budget bounds what is live; the limit bounds the garbage around
// it: with the collector's default pacing alone, a heap of 256 MiB of live bodies may grow to twice
// that before it is collected.
func LimitMemory(budget int64) int64 {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return debug.SetMemoryLimit(-1)
	}
	if budget <= 0 {
		budget = DefaultMaxInflightBytes
	}
	limit := int64(math.MaxInt64)
	if budget < limit-memoryBase {
		limit = budget + memoryBase
	}
	debug.SetMemoryLimit(limit)
	return limit
}

// inflightWait is how long a request waits for room before it is answered 503 server_busy: long
// enough to ride out a burst, short enough that the caller's own retry is the better wait.
const inflightWait = 1500 * time.Millisecond

// errServerBusy is the answer to a body there is no room for.
var errServerBusy = &domain.Error{Kind: domain.KindUnavailable, Code: domain.CodeServerBusy,
	Message: "the server is holding as many request bodies as it may; retry shortly", RetryAfter: 1}

// inflight bounds the memory the bodies of requests in flight take together. A request reserves its
// share before its body is read (readBodyInto) and gives it back when its handler returns (admit):
// what a handler decodes from its body lives until then.
type inflight struct {
	sem      *semaphore.Weighted
	capacity int64
}

func newInflight(capacity int64) *inflight {
	if capacity <= 0 {
		capacity = DefaultMaxInflightBytes
	}
	return &inflight{sem: semaphore.NewWeighted(capacity), capacity: capacity}
}

// reservation is one request's share of the bound, released by admit when the handler returns.
type reservation struct {
	gate *inflight
	mu   sync.Mutex
	held int64
}

type reservationKey struct{}

// admit gives every request a reservation and releases what it reserved once the handler returns.
func (a *API) admit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := &reservation{gate: a.inflight}
		defer res.release()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), reservationKey{}, res)))
	})
}

func (res *reservation) release() {
	res.mu.Lock()
	defer res.mu.Unlock()
	if res.held > 0 {
		res.gate.sem.Release(res.held)
		res.held = 0
	}
}

// reserveBody reserves the memory r's body will take, before it is read: its declared length or,
// sent chunked, the route's limit, times what the route holds of it (limitBody). A body declared
// longer than the limit is refused at once, unread. Without room within inflightWait the answer is
// 503 server_busy.
func reserveBody(r *http.Request) error {
	rule := bodyRuleOf(r.Context())
	n := r.ContentLength
	if n > rule.limit {
		return tooLarge(rule.limit)
	}
	if n < 0 {
		n = rule.limit
	}
	res, ok := r.Context().Value(reservationKey{}).(*reservation)
	if !ok || n == 0 {
		return nil
	}
	// A single request may always be served alone, however small the bound.
	n = min(n*rule.holds, res.gate.capacity)
	ctx, cancel := context.WithTimeout(r.Context(), inflightWait)
	defer cancel()
	if err := res.gate.sem.Acquire(ctx, n); err != nil {
		return errServerBusy
	}
	res.mu.Lock()
	res.held += n
	res.mu.Unlock()
	return nil
}

// settle lowers r's reservation to held bytes, what its handler is found to hold once its body is
// read and parsed (an ingest whose documents were sent compact holds its body only), so that the room
// reserved for the rest goes to the next request at once.
func settle(r *http.Request, held int64) {
	res, ok := r.Context().Value(reservationKey{}).(*reservation)
	if !ok || held < 0 {
		return
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	if over := res.held - held; over > 0 {
		res.gate.sem.Release(over)
		res.held = held
	}
}
