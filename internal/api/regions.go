package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/orgs"
)

type regionJSON struct {
	Region       string    `json:"region"`
	Home         bool      `json:"home"`
	KeyARN       string    `json:"key_arn"`
	BackupKeyARN string    `json:"backup_key_arn"`
	Status       string    `json:"status"`
	CreatedAt    time.Time `json:"created_at"`
}

func toRegionJSON(rg domain.Region) regionJSON {
	return regionJSON{Region: rg.Region, Home: rg.Home, KeyARN: rg.KeyARN, BackupKeyARN: rg.BackupKeyARN, Status: rg.Status, CreatedAt: rg.CreatedAt}
}

func (a *API) addRegion(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Region       string `json:"region"`
		KeyARN       string `json:"key_arn"`
		BackupKeyARN string `json:"backup_key_arn"`
	}
	if _, err := decodeBody(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	rg, err := a.orgs.AddRegion(r.Context(), principal(r.Context()), orgOf(r),
		orgs.RegionInput{Region: req.Region, KeyARN: req.KeyARN, BackupKeyARN: req.BackupKeyARN})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toRegionJSON(rg))
}

func (a *API) listRegions(w http.ResponseWriter, r *http.Request) {
	regions, err := a.orgs.Regions(r.Context(), orgOf(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"regions": mapSlice(regions, toRegionJSON)})
}

func (a *API) getRegion(w http.ResponseWriter, r *http.Request) {
	rg, err := a.orgs.Region(r.Context(), orgOf(r), chi.URLParam(r, "region"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRegionJSON(rg))
}
