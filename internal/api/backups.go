package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

type backupJSON struct {
	ID           string     `json:"id"`
	CollectionID string     `json:"collection_id"`
	Region       string     `json:"region"`
	KeyARN       string     `json:"key_arn"`
	State        string     `json:"state"`
	Documents    int64      `json:"documents"`
	CreatedAt    time.Time  `json:"created_at"`
	FinishedAt   *time.Time `json:"finished_at"`
}

func toBackupJSON(b domain.Backup) backupJSON {
	return backupJSON{ID: b.ID, CollectionID: b.CollectionID, Region: b.Region, KeyARN: b.KeyARN, State: b.State,
		Documents: b.Documents, CreatedAt: b.CreatedAt, FinishedAt: b.FinishedAt}
}

func (a *API) createBackup(w http.ResponseWriter, r *http.Request) {
	// The route takes no body; one that is sent must be an empty object.
	if raw, err := readBody(r); err != errEmptyBody { //nolint:errorlint // the one sentinel readBody returns as is
		if err == nil {
			err = decodeJSON(raw, &struct{}{})
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	b, err := a.backups.Create(r.Context(), principal(r.Context()), orgOf(r), chi.URLParam(r, "col"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toBackupJSON(b))
}

func (a *API) listBackups(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	list, next, err := a.backups.List(r.Context(), orgOf(r), r.URL.Query().Get("collection_id"), page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"backups": mapSlice(list, toBackupJSON), "next_cursor": next})
}

func (a *API) getBackup(w http.ResponseWriter, r *http.Request) {
	b, err := a.backups.Get(r.Context(), orgOf(r), chi.URLParam(r, "bak"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toBackupJSON(b))
}

func (a *API) deleteBackup(w http.ResponseWriter, r *http.Request) {
	if err := a.backups.Delete(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "bak")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) restoreBackup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if _, err := decodeBody(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.backups.Restore(r.Context(), principal(r.Context()), orgOf(r), chi.URLParam(r, "bak"), req.Name)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toCollectionJSON(c))
}
