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

// toBackupJSON encodes a backup for org. The platform's key is never shown to a tenant (SPEC §16):
// a provider-managed organisation's backups name no key.
func toBackupJSON(org domain.Org) func(domain.Backup) backupJSON {
	return func(b domain.Backup) backupJSON {
		arn := b.KeyARN
		if org.Mode != domain.ModeCustomerManaged {
			arn = ""
		}
		return backupJSON{ID: b.ID, CollectionID: b.CollectionID, Region: b.Region, KeyARN: arn, State: b.State,
			Documents: b.Documents, CreatedAt: b.CreatedAt, FinishedAt: b.FinishedAt}
	}
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
	org := orgOf(r)
	b, err := a.backups.Create(r.Context(), principal(r.Context()), org, chi.URLParam(r, "col"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toBackupJSON(org)(b))
}

func (a *API) listBackups(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	col := r.URL.Query().Get("collection_id")
	if col != "" && !domain.HasPrefix(col, "col") {
		a.writeError(w, r, domain.Invalid("collection_id", "collection_id must be a collection id (col_…)"))
		return
	}
	org := orgOf(r)
	list, next, err := a.backups.List(r.Context(), org.ID, col, page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"backups": mapSlice(list, toBackupJSON(org)), "next_cursor": next})
}

func (a *API) getBackup(w http.ResponseWriter, r *http.Request) {
	org := orgOf(r)
	b, err := a.backups.Get(r.Context(), org.ID, chi.URLParam(r, "bak"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toBackupJSON(org)(b))
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
