package envelope

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cmekd/cmekd/internal/prom"
)

// evictReason says why a data key left the cache; it indexes metrics.evictions.
type evictReason int

const (
	evictTTL evictReason = iota
	evictSize
	evictPurge
	evictKey // its wrapping KMS key was found unusable (DropKey)
	numEvictReasons
)

// evictReasonLabels are the reason label values, indexed by evictReason.
var evictReasonLabels = [numEvictReasons]string{"ttl", "size", "purge", "key_unavailable"}

// metrics counts the cache's hits, misses and evictions and gauges its size.
type metrics struct {
	hits, misses prometheus.Counter
	evictions    [numEvictReasons]prometheus.Counter
	entries      prometheus.Gauge
}

// newMetrics registers the cache's collectors with reg. A collector that is already registered (by
// another cache in the same process) is reused, so the series add up over caches; that is also why the
// entries gauge moves by Inc/Dec rather than Set. A nil reg gives unregistered collectors, which keep
// the cache's paths free of nil checks.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	hits := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cmekd_dek_cache_hits_total",
		Help: "Uses of a data key that found its plaintext cached.",
	})
	misses := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cmekd_dek_cache_misses_total",
		Help: "Uses of a data key that had to wait for it to be unwrapped through KMS.",
	})
	evictions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cmekd_dek_cache_evictions_total",
		Help: "Plaintext data keys dropped from memory and wiped, by reason (ttl, size, purge, key_unavailable).",
	}, []string{"reason"})
	entries := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cmekd_dek_cache_entries",
		Help: "Plaintext data keys held in memory.",
	})
	if reg != nil {
		var err error
		if hits, err = prom.Register(reg, hits); err != nil {
			return nil, fmt.Errorf("envelope: registering metrics: %w", err)
		}
		if misses, err = prom.Register(reg, misses); err != nil {
			return nil, fmt.Errorf("envelope: registering metrics: %w", err)
		}
		if evictions, err = prom.Register(reg, evictions); err != nil {
			return nil, fmt.Errorf("envelope: registering metrics: %w", err)
		}
		if entries, err = prom.Register(reg, entries); err != nil {
			return nil, fmt.Errorf("envelope: registering metrics: %w", err)
		}
	}
	m := &metrics{hits: hits, misses: misses, entries: entries}
	// Every reason is exported from the start, so that rate() sees its first eviction.
	for r, label := range evictReasonLabels {
		m.evictions[r] = evictions.WithLabelValues(label)
	}
	return m, nil
}
