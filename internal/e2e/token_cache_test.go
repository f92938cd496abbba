package e2e_test

import (
	"net/http"
	"testing"
)

// Document reads take a recently used organisation token from the server's cache and check it live in
// their own statement: revoking it on one replica ends it at once on another whose cache holds it,
// whatever the read would otherwise have answered.
func TestTokens_RevokedOnOneReplicaRefusedAtOnceByAnother(t *testing.T) {
	t.Parallel()
	e := setup(t)
	other := e.replica()
	org := e.createOrg("Acme")
	col := e.collection(org, "docs", true)["id"].(string)
	ids := e.ingest(org, col, map[string]any{"a": 1}, map[string]any{"b": 2})
	created := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/tokens", token: adminToken,
		body: map[string]any{"name": "reader", "role": "member"}})
	secret, id := created["token"].(string), created["id"].(string)
	kept := e.token(org, "member")
	foreign := e.createOrg("Initech")

	reads := map[string]req{
		"a document":                  {method: "GET", path: docsPath(org, col) + "/" + ids[0]},
		"a page":                      {method: "GET", path: docsPath(org, col) + "?limit=1"},
		"a missing document":          {method: "GET", path: docsPath(org, col) + "/doc_0000000000000000"},
		"a malformed document id":     {method: "GET", path: docsPath(org, col) + "/nope", unvalidated: true},
		"a missing collection":        {method: "GET", path: docsPath(org, "col_0000000000000000")},
		"another organisation's page": {method: "GET", path: docsPath(foreign, col)},
		"a bad limit":                 {method: "GET", path: docsPath(org, col) + "?limit=0", unvalidated: true},
	}
	before := map[string]int{}
	// Each read twice on each replica, so that both caches hold the token.
	for name, r := range reads {
		for _, srv := range []*env{e, other, e, other} {
			r.token = secret
			got := srv.do(r).Status
			if prev, ok := before[name]; ok && prev != got {
				t.Fatalf("%s: %d, then %d", name, prev, got)
			}
			before[name] = got
		}
	}
	if before["a document"] != http.StatusOK || before["a page"] != http.StatusOK {
		t.Fatalf("reads before the revocation: %v", before)
	}

	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org + "/tokens/" + id, token: adminToken})
	for name, r := range reads {
		for _, srv := range []*env{other, e} {
			r.token = secret
			srv.wantError(http.StatusUnauthorized, "unauthorized", r)
			r.token = kept
			if got := srv.do(r).Status; got != before[name] {
				t.Fatalf("%s with a live token after the revocation: %d, want %d", name, got, before[name])
			}
		}
	}
}
