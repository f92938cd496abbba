package api

import (
	"net/http"
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
	// Details is always an object: {"scope", "key", "version"} of a secret, say (SPEC §13).
	Details map[string]any `json:"details"`
}

func toEventJSON(e domain.Event) eventJSON {
	return eventJSON{ID: e.ID, Type: e.Type, At: e.At, Actor: e.Actor, Region: e.Region,
		CollectionID: e.CollectionID, FromState: e.FromState, ToState: e.ToState, Reason: e.Reason, Details: e.Details}
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	evs, next, err := a.orgs.Events(r.Context(), orgOf(r).ID, r.URL.Query().Get("type"), page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": mapSlice(evs, toEventJSON), "next_cursor": next})
}
