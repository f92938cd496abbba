package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

type eventJSON struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	At           time.Time `json:"at"`
	Actor        string    `json:"actor"`
	Region       string    `json:"region"`
	CollectionID string    `json:"collection_id"`
	FromState    string    `json:"from_state"`
	ToState      string    `json:"to_state"`
	Reason       string    `json:"reason"`
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	typ := r.URL.Query().Get("type")
	if typ != "" && !slices.Contains(domain.EventTypes, typ) {
		e := domain.Invalid("type", "type must be one of the event types")
		e.Details["types"] = domain.EventTypes
		a.writeError(w, r, e)
		return
	}
	evs, next, err := a.store.Events(r.Context(), orgOf(r).ID, typ, page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]eventJSON, len(evs))
	for i, e := range evs {
		out[i] = eventJSON{ID: e.ID, Type: e.Type, At: e.At, Actor: e.Actor, Region: e.Region,
			CollectionID: e.CollectionID, FromState: e.FromState, ToState: e.ToState, Reason: e.Reason}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "next_cursor": next})
}
