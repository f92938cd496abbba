package kms

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cmekd/cmekd/internal/prom"
)

// outcomeOK labels a call that succeeded; failures are labelled with their code.
const outcomeOK = "ok"

// metrics counts and times every client call by operation and outcome.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics registers the client's collectors with reg. A collector that is already registered (by
// another client in the same process) is reused, so all clients add to the same series. A nil reg
// gives unregistered collectors, which cost little and keep the call path free of nil checks.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	labels := []string{"operation", "outcome"}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cmekd_kms_requests_total",
		Help: "KMS calls made by cmekd, by operation and outcome (ok or the failure code).",
	}, labels)
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "cmekd_kms_request_duration_seconds",
		Help: "Duration of KMS calls made by cmekd, retries included, by operation and outcome.",
		// KMS answers in milliseconds; the upper buckets catch retries and timeouts.
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, labels)
	if reg == nil {
		return &metrics{requests: requests, duration: duration}, nil
	}
	var err error
	if requests, err = prom.Register(reg, requests); err != nil {
		return nil, fmt.Errorf("kms: registering metrics: %w", err)
	}
	if duration, err = prom.Register(reg, duration); err != nil {
		return nil, fmt.Errorf("kms: registering metrics: %w", err)
	}
	return &metrics{requests: requests, duration: duration}, nil
}

// observe records one call of operation that started at start and ended with err.
func (m *metrics) observe(operation string, start time.Time, err *Error) {
	outcome := outcomeOK
	if err != nil {
		outcome = err.Code
	}
	m.requests.WithLabelValues(operation, outcome).Inc()
	m.duration.WithLabelValues(operation, outcome).Observe(time.Since(start).Seconds())
}
