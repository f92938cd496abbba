package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/store"
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

// createCollection makes a collection in the organisation's home region. It starts ingest_halted when
// that region's key is unavailable, read under a shared lock so a concurrent state change cannot be
// missed.
func (a *API) createCollection(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        string `json:"name"`
		Recoverable *bool  `json:"recoverable"`
	}
	if _, err := decodeBody(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	name, err := validName("name", req.Name)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	org := orgOf(r)
	c := domain.Collection{ID: domain.NewID("col"), OrgID: org.ID, Name: name, Region: org.Region, Recoverable: true}
	if req.Recoverable != nil {
		c.Recoverable = *req.Recoverable
	}
	err = a.store.InTx(r.Context(), func(tx *store.Tx) error {
		h, linked, err := tx.ShareKeyHealth(r.Context(), org.ID, org.Region)
		if err != nil {
			return err
		}
		var key *domain.KeyHealth
		if linked {
			key = &h
		}
		c.State, c.StateReason = health.InitialState(key)
		c.CreatedAt, c.StateChangedAt = tx.Now(), tx.Now()
		if err := tx.InsertCollection(r.Context(), c); err != nil {
			return err
		}
		return tx.InsertEvent(r.Context(), domain.Event{OrgID: org.ID, Type: domain.EventCollectionCreated,
			Actor: principal(r.Context()).Actor(), Region: c.Region, CollectionID: c.ID, ToState: c.State, Reason: c.StateReason})
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toCollectionJSON(c))
}

func (a *API) listCollections(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	cols, next, err := a.store.Collections(r.Context(), orgOf(r).ID, page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]collectionJSON, len(cols))
	for i, c := range cols {
		out[i] = toCollectionJSON(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"collections": out, "next_cursor": next})
}

func (a *API) getCollection(w http.ResponseWriter, r *http.Request) {
	c, err := a.store.Collection(r.Context(), orgOf(r).ID, chi.URLParam(r, "col"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toCollectionJSON(c))
}

func (a *API) deleteCollection(w http.ResponseWriter, r *http.Request) {
	org := orgOf(r)
	id := chi.URLParam(r, "col")
	err := a.store.InTx(r.Context(), func(tx *store.Tx) error {
		c, err := tx.LockCollection(r.Context(), org.ID, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteCollection(r.Context(), org.ID, id); err != nil {
			return err
		}
		return tx.InsertEvent(r.Context(), domain.Event{OrgID: org.ID, Type: domain.EventCollectionDeleted,
			Actor: principal(r.Context()).Actor(), Region: c.Region, CollectionID: id, FromState: c.State})
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) resumeCollection(w http.ResponseWriter, r *http.Request) {
	c, err := a.health.Resume(r.Context(), orgOf(r).ID, chi.URLParam(r, "col"), principal(r.Context()).Actor())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toCollectionJSON(c))
}

type keyStatusJSON struct {
	Region           string         `json:"region"`
	KeyARN           string         `json:"key_arn"`
	Status           string         `json:"status"`
	LastProbeAt      *time.Time     `json:"last_probe_at"`
	LastOKAt         *time.Time     `json:"last_ok_at"`
	UnavailableSince *time.Time     `json:"unavailable_since"`
	LastError        *lastErrorJSON `json:"last_error"`
	NextProbeAt      *time.Time     `json:"next_probe_at"`
}

type lastErrorJSON struct {
	Code    string `json:"code"`
	Action  string `json:"action,omitempty"`
	Message string `json:"message"`
}

func writeKeyStatus(w http.ResponseWriter, keys []domain.KeyHealth) {
	out := make([]keyStatusJSON, len(keys))
	for i, k := range keys {
		next := k.NextProbeAt
		out[i] = keyStatusJSON{Region: k.Region, KeyARN: k.KeyARN, Status: k.Status, LastProbeAt: k.LastProbeAt,
			LastOKAt: k.LastOKAt, UnavailableSince: k.UnavailableSince, NextProbeAt: &next}
		if k.LastError != nil {
			out[i].LastError = &lastErrorJSON{Code: k.LastError.Code, Action: k.LastError.Action, Message: k.LastError.Message}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"regions": out})
}

func (a *API) keyStatus(w http.ResponseWriter, r *http.Request) {
	keys, err := a.store.KeyHealth(r.Context(), orgOf(r).ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeKeyStatus(w, keys)
}

func (a *API) probeNow(w http.ResponseWriter, r *http.Request) {
	keys, err := a.health.ProbeNow(r.Context(), orgOf(r).ID, principal(r.Context()).Actor())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeKeyStatus(w, keys)
}
