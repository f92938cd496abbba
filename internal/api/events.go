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
	listed(a, w, r, "events", domain.Event.Body, func(p domain.Page) ([]domain.Event, string, error) {
		return a.orgs.Events(r.Context(), orgID, r.URL.Query().Get("type"), p)
	})
}
