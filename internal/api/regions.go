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
	KeyID        string    `json:"key_id"`
	KeyARN       string    `json:"key_arn"`
	BackupKeyID  string    `json:"backup_key_id"`
	BackupKeyARN string    `json:"backup_key_arn"`
	Status       string    `json:"status"`
	CreatedAt    time.Time `json:"created_at"`
}

// toRegionJSON shows a region's keys: key_id for every provider, and for AWS key_arn, its synonym.
func toRegionJSON(rg domain.Region) regionJSON {
	j := regionJSON{Region: rg.Region, Home: rg.Home, KeyID: rg.KeyARN, BackupKeyID: rg.BackupKeyARN, Status: rg.Status, CreatedAt: rg.CreatedAt}
	if domain.ProviderOf(rg.KeyARN) != domain.ProviderGCP && domain.ProviderOf(rg.KeyARN) != domain.ProviderAzure {
		j.KeyARN, j.BackupKeyARN = rg.KeyARN, rg.BackupKeyARN
	}
	return j
}

func (a *API) addRegion(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Region       string `json:"region"`
		KeyARN       string `json:"key_arn"`
		KeyID        string `json:"key_id"`
		BackupKeyARN string `json:"backup_key_arn"`
		BackupKeyID  string `json:"backup_key_id"`
	}
	if !a.decoded(w, r, &req) {
		return
	}
	rg, err := a.orgs.AddRegion(r.Context(), principal(r.Context()), orgOf(r),
		orgs.RegionInput{Region: req.Region, KeyARN: req.KeyARN, KeyID: req.KeyID, BackupKeyARN: req.BackupKeyARN, BackupKeyID: req.BackupKeyID})
	reply(a, w, r, http.StatusCreated, rg, err, toRegionJSON)
}

func (a *API) listRegions(w http.ResponseWriter, r *http.Request) {
	regions, err := a.orgs.Regions(r.Context(), orgOf(r))
	reply(a, w, r, http.StatusOK, regions, err, func(l []domain.Region) map[string]any { return map[string]any{"regions": mapSlice(l, toRegionJSON)} })
}

func (a *API) getRegion(w http.ResponseWriter, r *http.Request) {
	rg, err := a.orgs.Region(r.Context(), orgOf(r), chi.URLParam(r, "region"))
	reply(a, w, r, http.StatusOK, rg, err, toRegionJSON)
}
