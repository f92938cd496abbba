package api

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cmekd/cmekd/internal/api/respond"
	"github.com/cmekd/cmekd/internal/domain"
)

type ctxKey int

const (
	keyPrincipal ctxKey = iota
	keyOrg
)

func requestID(ctx context.Context) string { return domain.RequestID(ctx) }

// withRequestID echoes the caller's X-Request-Id or makes one, on every response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, respond.WithRequestID(w, r))
	})
}

// statusWriter remembers the status and size written.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// metrics are the HTTP server's Prometheus series. Each route, method and status's pair of series is
// resolved once and kept (series), so that a request costs a map read under a shared lock rather than
// two lookups of label values in the vectors (hashing and checking three strings each).
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	mu     sync.RWMutex
	series map[seriesKey]*series
}

// seriesKey names one pair of series. Its values are bounded: a route pattern or "unmatched", a
// method of HTTP's vocabulary or "other" (methodLabel), and a status code.
type seriesKey struct {
	route, method string
	status        int
}

// series is one route, method and status's counter and latency histogram.
type series struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cmekd_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cmekd_http_request_duration_seconds", Help: "HTTP request latency by route, method and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "status"}),
		series: map[seriesKey]*series{},
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// of returns the series of k, resolving them the first time k is seen.
func (m *metrics) of(k seriesKey) *series {
	m.mu.RLock()
	s := m.series[k]
	m.mu.RUnlock()
	if s != nil {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s = m.series[k]; s == nil {
		status := strconv.Itoa(k.status)
		s = &series{requests: m.requests.WithLabelValues(k.route, k.method, status),
			latency: m.latency.WithLabelValues(k.route, k.method, status)}
		m.series[k] = s
	}
	return s
}

// observe logs one line per request and counts it, after recovering from any panic in the handler.
func (a *API) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.ErrorContext(r.Context(), "panic", "request_id", requestID(r.Context()),
					"panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					a.writeError(sw, r, respond.ErrInternal)
				}
			}
			a.record(r, sw, time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}

// record counts a finished request and writes its log line. The line's attributes are slog.Attr
// values (no interface boxing), up to nine of them in one array on the stack.
func (a *API) record(r *http.Request, sw *statusWriter, elapsed time.Duration) {
	ctx := r.Context()
	route := chi.RouteContext(ctx).RoutePattern()
	if route == "" {
		route = "unmatched"
	}
	s := a.metrics.of(seriesKey{route: route, method: methodLabel(r.Method), status: sw.status})
	s.requests.Inc()
	s.latency.Observe(elapsed.Seconds())
	if !a.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := [...]slog.Attr{slog.String("request_id", requestID(ctx)), slog.String("method", r.Method),
		slog.String("route", route), slog.String("path", r.URL.Path), slog.Int("status", sw.status),
		slog.Int("bytes", sw.bytes), slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000), {}, {}}
	n := 7
	if p, ok := ctx.Value(keyPrincipal).(*authed); ok && p.OrgID != "" {
		attrs[7], attrs[8] = slog.String("org_id", p.OrgID), slog.String("token_id", p.TokenID)
		n = 9
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs[:n]...)
}

// methodLabel bounds the method label: a client chooses the method, so anything but the methods of
// HTTP's own vocabulary folds into "other" and /metrics cannot be grown at will. The route
// label is already bounded: a route pattern, or "unmatched".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// limitBody sets the most bytes a handler will read of the request body, and how many times over
// the handler holds what it read while it runs (an ingest keeps its body, the documents compacted, the
// documents sealed and the database driver's copy of those): the body is reserved at that weight
// against the memory bodies in flight may take (reserveBody). Routes may raise the limit of the group
// they are in (documents take up to 8 MiB); the innermost limit wins because readBodyInto applies it
// when it reads.
func limitBody(n, holds int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyLimitKey{}, bodyRule{limit: n, holds: holds})))
		})
	}
}

type bodyLimitKey struct{}

// bodyRule is what limitBody set.
type bodyRule struct{ limit, holds int64 }

// bodyRuleOf is the rule limitBody set; maxBody held once when none did.
func bodyRuleOf(ctx context.Context) bodyRule {
	if b, ok := ctx.Value(bodyLimitKey{}).(bodyRule); ok {
		return b
	}
	return bodyRule{limit: maxBody, holds: 1}
}
