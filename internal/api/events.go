package api

import (
	"net/http"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

type eventJSON struct {
	ID           string    `json:"id"`
	OrgID        string    `json:"org_id"`
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
	return eventJSON{ID: e.ID, OrgID: e.OrgID, Type: e.Type, At: e.At, Actor: e.Actor, Region: e.Region,
		CollectionID: e.CollectionID, FromState: e.FromState, ToState: e.ToState, Reason: e.Reason, Details: e.Details}
}

// listEvents answers an organisation's audit trail.
func (a *API) listEvents(w http.ResponseWriter, r *http.Request) { a.events(w, r, orgOf(r).ID) }

// listAllEvents answers the platform's whole audit trail (the admin's).
func (a *API) listAllEvents(w http.ResponseWriter, r *http.Request) { a.events(w, r, "") }

func (a *API) events(w http.ResponseWriter, r *http.Request, orgID string) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	evs, next, err := a.orgs.Events(r.Context(), orgID, r.URL.Query().Get("type"), page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": mapSlice(evs, toEventJSON), "next_cursor": next})
}
