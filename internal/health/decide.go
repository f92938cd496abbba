// Package health watches every linked key and drives the collection state machine (active, ingest_halted, paused):
// a customer-caused failure halts ingestion, a long one pauses collections, a healthy key brings
// halted collections back, and a KMS that merely did not answer changes nothing.
package health

import (
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

// Kind classifies a probe result.
type Kind int

// Probe result kinds.
const (
	// Healthy means every probe step passed.
	Healthy Kind = iota
	// CustomerCaused means the key refused us: disabled, policy revoked, pending deletion, deleted.
	CustomerCaused
	// Transient means KMS could not be reached or throttled us; it says nothing about the key.
	Transient
)

// Outcome is one probe's verdict.
type Outcome struct {
	Kind  Kind
	Error *domain.ProbeError // nil when Healthy
}

// Change is one collection's transition.
type Change struct {
	CollectionID string
	From, To     string
	Event        string
	Reason       string
}

// Decision is what a probe outcome does to a key and its collections.
type Decision struct {
	Key      domain.KeyHealth
	KeyEvent string // key.unavailable, key.restored, key.probe_error (first of a run) or ""
	Reason   string
	Changes  []Change
}

// Decide applies an outcome observed at now to a key's health and its region's collections. It is
// pure: the caller holds the locks and writes the result with its events in one transaction.
func Decide(h domain.KeyHealth, cols []domain.Collection, o Outcome, now time.Time, pauseAfter time.Duration) Decision {
	d := Decision{Key: h}
	d.Key.LastProbeAt = &now
	switch o.Kind {
	case Transient:
		// Nothing about the key is known: no state changes, unavailable_since is kept. An outage is
		// one event, not one per probe: a repeat of the last error only updates last_error.
		if h.LastError == nil || o.Error == nil || h.LastError.Code != o.Error.Code {
			d.KeyEvent, d.Reason = domain.EventKeyProbeError, reasonOf(o.Error)
		}
		d.Key.LastError = o.Error
	case Healthy:
		if h.Status == domain.KeyUnavailable {
			d.KeyEvent, d.Reason = domain.EventKeyRestored, "key healthy again"
		}
		d.Key.Status, d.Key.LastOKAt, d.Key.UnavailableSince, d.Key.LastError = domain.KeyHealthy, &now, nil, nil
		for _, c := range cols {
			if c.State == domain.StateIngestHalted {
				d.Changes = append(d.Changes, Change{c.ID, c.State, domain.StateActive, domain.EventCollectionReactivated, "key healthy again"})
			}
		}
	case CustomerCaused:
		since := now
		if h.Status == domain.KeyUnavailable && h.UnavailableSince != nil {
			since = *h.UnavailableSince
		} else {
			d.KeyEvent = domain.EventKeyUnavailable
		}
		d.Reason = reasonOf(o.Error)
		d.Key.Status, d.Key.UnavailableSince, d.Key.LastError = domain.KeyUnavailable, &since, o.Error
		pause := now.Sub(since) >= pauseAfter
		for _, c := range cols {
			switch {
			case pause && c.State != domain.StatePaused:
				d.Changes = append(d.Changes, Change{c.ID, c.State, domain.StatePaused, domain.EventCollectionPaused, d.Reason})
			case !pause && c.State == domain.StateActive:
				d.Changes = append(d.Changes, Change{c.ID, c.State, domain.StateIngestHalted, domain.EventCollectionHalted, d.Reason})
			}
		}
	}
	return d
}

// InitialState is the state a new collection starts in, given its key's health (nil for an
// organisation without a linked key).
func InitialState(h *domain.KeyHealth) (state, reason string) {
	if h == nil || h.Status != domain.KeyUnavailable {
		return domain.StateActive, ""
	}
	return domain.StateIngestHalted, reasonOf(h.LastError)
}

func reasonOf(e *domain.ProbeError) string {
	if e == nil {
		return ""
	}
	return e.Code
}
