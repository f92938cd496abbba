package api

import (
	"net/http"

	"github.com/cmekd/cmekd/internal/domain"
)

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
	writeJSON(w, http.StatusOK, map[string]any{"events": mapSlice(evs, domain.Event.Body), "next_cursor": next})
}
