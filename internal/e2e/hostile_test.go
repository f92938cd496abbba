package e2e_test

import (
	"testing"
)

// TestHostile_DuplicateNamesAreRefused: a body that names a member twice in one object, at the top
// or nested, in an ingested document or spelled with an escape, is refused with 400
// malformed_request, and nothing is stored: no last-one-wins owner token, no document.
func TestHostile_DuplicateNamesAreRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	tokens := e.count(`SELECT count(*) FROM tokens`)
	for _, tc := range []struct {
		name string
		r    req
	}{
		{"token role twice", req{method: "POST", path: "/v1/orgs/" + org + "/tokens", raw: []byte(`{"name":"ci","role":"member","role":"owner"}`)}},
		{"token role twice, once escaped", req{method: "POST", path: "/v1/orgs/" + org + "/tokens", raw: []byte(`{"name":"ci","role":"member","r\u006fle":"owner"}`)}},
		{"documents twice", req{method: "POST", path: docsPath(org, col), raw: []byte(`{"documents":[{"a":1}],"documents":[{"b":2}]}`)}},
		{"a document's member twice", req{method: "POST", path: docsPath(org, col), raw: []byte(`{"documents":[{"a":1},{"amount":1,"amount":1000000}]}`)}},
		{"a nested member twice, spaced", req{method: "POST", path: docsPath(org, col), raw: []byte(`{"documents":[ {"a": {"b": [ {"c":1, "d":2, "\u0063" :3} ]}} ]}`)}},
		{"org member twice", req{method: "POST", path: "/v1/orgs", raw: []byte(`{"name":"Evil","name":"Acme2","region":"us-west-2"}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = t }()
			tc.r.token = adminToken
			e.wantError(400, "malformed_request", tc.r)
		})
	}
	e.t = t
	if n := e.count(`SELECT count(*) FROM documents`); n != 0 {
		t.Fatalf("%d documents stored", n)
	}
	if n := e.count(`SELECT count(*) FROM tokens`); n != tokens {
		t.Fatalf("%d tokens, want %d", n, tokens)
	}
	if n := e.count(`SELECT count(*) FROM orgs`); n != 1 {
		t.Fatalf("%d organisations, want 1", n)
	}
	// The same bodies without the duplicate are taken.
	e.must(201, req{method: "POST", path: docsPath(org, col), token: adminToken, raw: []byte(`{"documents":[ {"a": {"b": [ {"c":1, "d":2, "e" :3} ]}} ]}`)})
}
