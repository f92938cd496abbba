package health

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

// Gauges counts linked keys by status and collections by state at each scrape, fleet-wide, from
// the database: what an operator graphs and alerts on. Every status and state is always reported,
// zero included, so that an alert on "unavailable > 0" has a series to read.
type Gauges struct {
	store       *store.Store
	keys        *prometheus.Desc
	collections *prometheus.Desc
}

// NewGauges returns the collector; register it with the server's registry.
func NewGauges(st *store.Store) *Gauges {
	return &Gauges{store: st,
		keys:        prometheus.NewDesc("cmekd_keys", "Linked keys by health status, fleet-wide.", []string{"status"}, nil),
		collections: prometheus.NewDesc("cmekd_collections", "Collections by state, fleet-wide.", []string{"state"}, nil),
	}
}

// Describe sends the descriptions of the gauges.
func (g *Gauges) Describe(ch chan<- *prometheus.Desc) { ch <- g.keys; ch <- g.collections }

// Collect reads the counts; while the database is unreachable it reports nothing rather than zeros.
func (g *Gauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	keys, cols, err := g.store.StateCounts(ctx)
	if err != nil {
		return
	}
	for _, s := range []string{domain.KeyHealthy, domain.KeyUnavailable, domain.KeyUnknown} {
		ch <- prometheus.MustNewConstMetric(g.keys, prometheus.GaugeValue, float64(keys[s]), s)
	}
	for _, s := range []string{domain.StateActive, domain.StateIngestHalted, domain.StatePaused} {
		ch <- prometheus.MustNewConstMetric(g.collections, prometheus.GaugeValue, float64(cols[s]), s)
	}
}
