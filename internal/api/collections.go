package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/collections"
	"github.com/cmekd/cmekd/internal/domain"
)

type collectionJSON struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Region         string    `json:"region"`
	State          string    `json:"state"`
	StateReason    string    `json:"state_reason"`
	StateChangedAt time.Time `json:"state_changed_at"`
	Recoverable    bool      `json:"recoverable"`
	CreatedAt      time.Time `json:"created_at"`
}

func toCollectionJSON(c domain.Collection) collectionJSON {
	return collectionJSON{ID: c.ID, Name: c.Name, Region: c.Region, State: c.State, StateReason: c.StateReason,
		StateChangedAt: c.StateChangedAt, Recoverable: c.Recoverable, CreatedAt: c.CreatedAt}
}

func (a *API) createCollection(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        string `json:"name"`
		Recoverable *bool  `json:"recoverable"`
		Region      string `json:"region"`
	}
	if !a.decoded(w, r, &req) {
		return
	}
	c, err := a.collections.Create(r.Context(), principal(r.Context()), orgOf(r),
		collections.CreateInput{Name: req.Name, Recoverable: req.Recoverable, Region: req.Region})
	reply(a, w, r, http.StatusCreated, c, err, toCollectionJSON)
}

func (a *API) deleteCollection(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.collections.Delete(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "col")))
}

func (a *API) resumeCollection(w http.ResponseWriter, r *http.Request) {
	c, err := a.collections.Resume(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "col"))
	reply(a, w, r, http.StatusOK, c, err, toCollectionJSON)
}

type keyStatusJSON struct {
	Region  string `json:"region"`
	Purpose string `json:"purpose"`
	Status  string `json:"status"`
	// A customer's key shows the rest; the platform's key shows region, purpose and status only.
	*customerKeyJSON
}

type customerKeyJSON struct {
	KeyARN           string         `json:"key_arn"`
	LastProbeAt      *time.Time     `json:"last_probe_at"`
	LastOKAt         *time.Time     `json:"last_ok_at"`
	UnavailableSince *time.Time     `json:"unavailable_since"`
	LastError        *lastErrorJSON `json:"last_error"`
	NextProbeAt      *time.Time     `json:"next_probe_at"`
	// AchievedIntervalSeconds is the time between the key's last two probes; null until its second.
	AchievedIntervalSeconds *float64 `json:"achieved_interval_seconds"`
}

type lastErrorJSON struct {
	Code    string `json:"code"`
	Action  string `json:"action,omitempty"`
	Message string `json:"message"`
}

func toKeyStatusJSON(keys []domain.KeyHealth) map[string]any {
	out := make([]keyStatusJSON, len(keys))
	for i, k := range keys {
		purpose := k.Purpose
		if purpose == "" {
			purpose = domain.PurposeData
		}
		out[i] = keyStatusJSON{Region: k.Region, Purpose: purpose, Status: k.Status}
		if k.KeyARN == "" {
			continue // the platform's key
		}
		next := k.NextProbeAt
		c := &customerKeyJSON{KeyARN: k.KeyARN, LastProbeAt: k.LastProbeAt, LastOKAt: k.LastOKAt,
			UnavailableSince: k.UnavailableSince, NextProbeAt: &next}
		if k.AchievedInterval != nil {
			s := k.AchievedInterval.Seconds()
			c.AchievedIntervalSeconds = &s
		}
		if k.LastError != nil {
			c.LastError = &lastErrorJSON{Code: k.LastError.Code, Action: k.LastError.Action, Message: k.LastError.Message}
		}
		out[i].customerKeyJSON = c
	}
	return map[string]any{"regions": out}
}

func (a *API) keyStatus(w http.ResponseWriter, r *http.Request) {
	keys, err := a.health.KeyStatus(r.Context(), orgOf(r))
	reply(a, w, r, http.StatusOK, keys, err, toKeyStatusJSON)
}

func (a *API) probeNow(w http.ResponseWriter, r *http.Request) {
	keys, err := a.health.ProbeNow(r.Context(), orgOf(r), principal(r.Context()).Actor())
	reply(a, w, r, http.StatusOK, keys, err, toKeyStatusJSON)
}
