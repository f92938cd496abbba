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
	reply(a, w, r, http.StatusCreated, b, err, toBackupJSON)
}

func (a *API) listBackups(w http.ResponseWriter, r *http.Request) {
	listed(a, w, r, "backups", toBackupJSON, func(p domain.Page) ([]domain.Backup, string, error) {
		return a.backups.List(r.Context(), orgOf(r), r.URL.Query().Get("collection_id"), p)
	})
}

func (a *API) getBackup(w http.ResponseWriter, r *http.Request) {
	b, err := a.backups.Get(r.Context(), orgOf(r), chi.URLParam(r, "bak"))
	reply(a, w, r, http.StatusOK, b, err, toBackupJSON)
}

func (a *API) deleteBackup(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.backups.Delete(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "bak")))
}

func (a *API) restoreBackup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if !a.decoded(w, r, &req) {
		return
	}
	c, err := a.backups.Restore(r.Context(), principal(r.Context()), orgOf(r), chi.URLParam(r, "bak"), req.Name)
	reply(a, w, r, http.StatusCreated, c, err, toCollectionJSON)
}
