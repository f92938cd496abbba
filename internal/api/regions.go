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

// toRegionJSON shows a region; a provider_managed organisation's shows the platform key's status and
// no ARN (SPEC §16).
func (a *API) toRegionJSON(org domain.Org, rg domain.Region) regionJSON {
	if org.Mode == domain.ModeProviderManaged {
		rg.Status = a.health.ProviderKeyStatus(rg.Region)
	}
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
	org := orgOf(r)
	rg, err := a.orgs.AddRegion(r.Context(), principal(r.Context()), org,
		orgs.RegionInput{Region: req.Region, KeyARN: req.KeyARN, BackupKeyARN: req.BackupKeyARN})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rg.Home = rg.Region == org.Region
	writeJSON(w, http.StatusCreated, a.toRegionJSON(org, rg))
}

func (a *API) listRegions(w http.ResponseWriter, r *http.Request) {
	org := orgOf(r)
	regions, err := a.orgs.Regions(r.Context(), org)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]regionJSON, len(regions))
	for i, rg := range regions {
		out[i] = a.toRegionJSON(org, rg)
	}
	writeJSON(w, http.StatusOK, map[string]any{"regions": out})
}

func (a *API) getRegion(w http.ResponseWriter, r *http.Request) {
	org := orgOf(r)
	rg, err := a.orgs.Region(r.Context(), org, chi.URLParam(r, "region"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.toRegionJSON(org, rg))
}
