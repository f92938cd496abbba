package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/idempotency"
	"github.com/cmekd/cmekd/internal/orgs"
)

type orgJSON struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Region     string         `json:"region"`
	Regions    []string       `json:"regions"`
	Encryption encryptionJSON `json:"encryption"`
	CreatedAt  time.Time      `json:"created_at"`
}

type encryptionJSON struct {
	Mode         string `json:"mode"`
	Provider     string `json:"provider"`
	KeyID        string `json:"key_id,omitempty"`
	KeyARN       string `json:"key_arn,omitempty"`
	BackupKeyID  string `json:"backup_key_id,omitempty"`
	BackupKeyARN string `json:"backup_key_arn,omitempty"`
	Status       string `json:"status"`
}

// toEncryptionJSON shows an organisation's keys: key_id for every provider, and for AWS key_arn,
// its synonym, as well.
func toEncryptionJSON(o domain.Org) encryptionJSON {
	e := encryptionJSON{Mode: o.Mode, Provider: domain.ProviderAWS, KeyID: o.KeyARN, BackupKeyID: o.BackupKeyARN, Status: o.KeyStatus}
	if p := domain.ProviderOf(o.KeyARN); p != "" {
		e.Provider = p
	}
	if e.Provider == domain.ProviderAWS {
		e.KeyARN, e.BackupKeyARN = o.KeyARN, o.BackupKeyARN
	}
	return e
}

func toOrgJSON(o domain.Org) orgJSON {
	return orgJSON{ID: o.ID, Name: o.Name, Region: o.Region, Regions: o.Regions, CreatedAt: o.CreatedAt,
		Encryption: toEncryptionJSON(o)}
}

type createOrgRequest struct {
	Name       string `json:"name"`
	Region     string `json:"region"`
	Encryption *struct {
		Mode         string `json:"mode"`
		Provider     string `json:"provider"`
		KeyARN       string `json:"key_arn"`
		KeyID        string `json:"key_id"`
		BackupKeyARN string `json:"backup_key_arn"`
		BackupKeyID  string `json:"backup_key_id"`
	} `json:"encryption"`
}

// input is the request as the service takes it.
func (req createOrgRequest) input() orgs.CreateInput {
	in := orgs.CreateInput{Name: req.Name, Region: req.Region}
	if req.Encryption != nil {
		e := req.Encryption
		in.Encryption = &orgs.EncryptionInput{Mode: e.Mode, Provider: e.Provider, KeyARN: e.KeyARN, KeyID: e.KeyID,
			BackupKeyARN: e.BackupKeyARN, BackupKeyID: e.BackupKeyID}
	}
	return in
}

// idempotencyKey reads the request's Idempotency-Key for route.
func (a *API) idempotencyKey(r *http.Request, route string, raw []byte) (idempotency.Key, error) {
	return a.idem.Key(r.Header.Get("Idempotency-Key"), route, principal(r.Context()).Actor(), raw)
}

func (a *API) createOrg(w http.ResponseWriter, r *http.Request) {
	var req createOrgRequest
	raw, err := decodeBody(r, &req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	key, err := a.idempotencyKey(r, "orgs", raw)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	o, err := a.orgs.Create(r.Context(), principal(r.Context()), req.input(), key)
	reply(a, w, r, http.StatusCreated, o, err, toOrgJSON)
}

func (a *API) listOrgs(w http.ResponseWriter, r *http.Request) {
	listed(a, w, r, "orgs", toOrgJSON, func(p domain.Page) ([]domain.Org, string, error) {
		return a.orgs.List(r.Context(), principal(r.Context()), p)
	})
}

func (a *API) getOrg(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, toOrgJSON(orgOf(r)))
}

func (a *API) patchOrg(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name       *string         `json:"name"`
		Encryption json.RawMessage `json:"encryption"`
	}
	if !a.decoded(w, r, &req) {
		return
	}
	org, err := a.orgs.Patch(r.Context(), principal(r.Context()), orgOf(r), orgs.PatchInput{Name: req.Name, Encryption: req.Encryption})
	reply(a, w, r, http.StatusOK, org, err, toOrgJSON)
}

func (a *API) deleteOrg(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.orgs.Delete(r.Context(), principal(r.Context()), orgOf(r)))
}

// pageOf reads ?limit= (default 50, 1–500) and ?cursor=.
func pageOf(r *http.Request) (domain.Page, error) {
	p := domain.Page{Limit: 50, Cursor: r.URL.Query().Get("cursor")}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return p, domain.Invalid("limit", "limit must be an integer from 1 to 500")
		}
		p.Limit = n
	}
	return p, nil
}

// mapSlice encodes each item of a list.
func mapSlice[T, J any](items []T, f func(T) J) []J {
	out := make([]J, len(items))
	for i, v := range items {
		out[i] = f(v)
	}
	return out
}
