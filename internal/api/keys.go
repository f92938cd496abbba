package api

import (
	"net/http"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/orgs"
)

// keyChecks validates a key's id and runs the live verification probe against the key, storing
// nothing; a failed check is still a 200.
func (a *API) keyChecks(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Provider string  `json:"provider"`
		KeyARN   *string `json:"key_arn"`
		KeyID    *string `json:"key_id"`
		Region   string  `json:"region"`
	}
	if !a.decoded(w, r, &req) {
		return
	}
	kc, err := a.orgs.CheckKey(r.Context(), principal(r.Context()),
		orgs.KeyCheckInput{Provider: req.Provider, KeyARN: req.KeyARN, KeyID: req.KeyID, Region: req.Region})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	body := map[string]any{
		"provider":         kc.Provider,
		"key_id":           kc.KeyARN,
		"ok":               kc.OK,
		"checks":           kc.Checks,
		"policy_statement": kc.PolicyStatement,
	}
	if kc.Provider == domain.ProviderAWS {
		body["key_arn"] = kc.KeyARN
	}
	if kc.PolicyStatements != nil {
		body["policy_statements"] = kc.PolicyStatements
	}
	writeJSON(w, http.StatusOK, body)
}

// keyPolicy answers the key policy the customer must add, as JSON or Terraform.
func (a *API) keyPolicy(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := a.orgs.KeyPolicy(orgs.PolicyInput{Provider: q.Get("provider"), KeyARN: q.Get("key_arn"), KeyID: q.Get("key_id"), Template: q.Get("template"),
		Format: q.Get("format"), AdditionalPrincipals: q["additional_principal"]})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if p.Text {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(p.Body)
		return
	}
	writeRaw(w, http.StatusOK, p.Body)
}
