package api

import (
	"net/http"

	"github.com/cmekd/cmekd/internal/domain"
)

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
	writeJSON(w, http.StatusOK, map[string]any{"events": mapSlice(evs, domain.Event.Body), "next_cursor": next})
}
