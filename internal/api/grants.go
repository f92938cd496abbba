package api

import (
	"net/http"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

type grantJSON struct {
	GrantID          string    `json:"grant_id"`
	Name             string    `json:"name"`
	KeyARN           string    `json:"key_arn"`
	Region           string    `json:"region"`
	Purpose          string    `json:"purpose"`
	GranteePrincipal string    `json:"grantee_principal"`
	Operations       []string  `json:"operations"`
	Status           string    `json:"status"`
	CreatedAt        time.Time `json:"created_at"`
}

func toGrantsJSON(list []domain.Grant) map[string]any {
	out := make([]grantJSON, len(list))
	for i, g := range list {
		out[i] = grantJSON{GrantID: g.ID, Name: g.Name, KeyARN: g.KeyARN, Region: g.Region, Purpose: g.Purpose,
			GranteePrincipal: g.GranteePrincipal, Operations: g.Operations, Status: g.Status, CreatedAt: g.CreatedAt}
	}
	return map[string]any{"grants": out}
}

// listGrants answers the organisation's KMS grants .
func (a *API) listGrants(w http.ResponseWriter, r *http.Request) {
	list, err := a.grants.List(r.Context(), orgOf(r))
	reply(a, w, r, http.StatusOK, list, err, toGrantsJSON)
}

// renewGrants gives the keys whose grant the customer revoked new grants, then probes them.
func (a *API) renewGrants(w http.ResponseWriter, r *http.Request) {
	list, err := a.grants.Renew(r.Context(), principal(r.Context()), orgOf(r))
	reply(a, w, r, http.StatusOK, list, err, toGrantsJSON)
}
