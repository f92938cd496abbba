package api

import (
	"context"
	"net/http"
	"runtime/debug"
	"strconv"
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

// metrics are the HTTP server's Prometheus series.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
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
	}
	reg.MustRegister(m.requests, m.latency)
	return m
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
			route := chi.RouteContext(r.Context()).RoutePattern()
			if route == "" {
				route = "unmatched"
			}
			status := strconv.Itoa(sw.status)
			elapsed := time.Since(start)
			method := methodLabel(r.Method)
			a.metrics.requests.WithLabelValues(route, method, status).Inc()
			a.metrics.latency.WithLabelValues(route, method, status).Observe(elapsed.Seconds())
			attrs := []any{"request_id", requestID(r.Context()), "method", r.Method, "route", route,
				"path", r.URL.Path, "status", sw.status, "bytes", sw.bytes, "duration_ms", float64(elapsed.Microseconds()) / 1000}
			if p, ok := r.Context().Value(keyPrincipal).(*domain.Principal); ok && p.OrgID != "" {
				attrs = append(attrs, "org_id", p.OrgID, "token_id", p.TokenID)
			}
			a.log.InfoContext(r.Context(), "request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// methodLabel bounds the method label: a client chooses the method, so anything but the methods of
// HTTP's own vocabulary folds into "other" and /metrics cannot be grown at will (SPEC §16). The route
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
