package api

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// The handlers' common steps: each answers the error in the API's error shape and reports whether
// the handler goes on, or writes the whole answer.

// decoded decodes the request's JSON body into dst; on a bad body it answers the error and is false.
func (a *API) decoded(w http.ResponseWriter, r *http.Request, dst any) bool {
	if _, err := decodeBody(r, dst); err != nil {
		a.writeError(w, r, err)
		return false
	}
	return true
}

// reply answers show(v) with status, or err.
func reply[T, J any](a *API, w http.ResponseWriter, r *http.Request, status int, v T, err error, show func(T) J) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, status, show(v))
}

// replyOnce answers 201 with show(v), which holds a secret shown this once and so is never cached;
// or err.
func replyOnce[T, J any](a *API, w http.ResponseWriter, r *http.Request, v T, err error, show func(T) J) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, show(v))
}

// listed answers one page of a list: the request's limit and cursor read, the page that list gives
// under name, each item shown with show, and the cursor of the next page; or the error.
func listed[T, J any](a *API, w http.ResponseWriter, r *http.Request, name string, show func(T) J, list func(domain.Page) ([]T, string, error)) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	items, next, err := list(page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{name: mapSlice(items, show), "next_cursor": next})
}

// noContent answers 204, or err.
func (a *API) noContent(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// orgListed is the handler of a list of the organisation's items, under name in the answer: list
// reads one page of them, each shown with show.
func orgListed[T, J any](a *API, name string, show func(T) J, list func(ctx context.Context, orgID string, p domain.Page) ([]T, string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		listed(a, w, r, name, show, func(p domain.Page) ([]T, string, error) { return list(r.Context(), orgOf(r).ID, p) })
	}
}

// orgItem is the handler that answers 200 with the organisation's item that get reads by the id in
// the path parameter param, shown with show; or the error.
func orgItem[T, J any](a *API, param string, show func(T) J, get func(ctx context.Context, orgID, id string) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := get(r.Context(), orgOf(r).ID, chi.URLParam(r, param))
		reply(a, w, r, http.StatusOK, v, err, show)
	}
}
