package e2e_test

import (
	"net/http"
	"testing"
)

// TestText_IsText: invalid UTF-8 anywhere in a body, escapes of lone surrogates, Unicode format
// characters in names, and a PATCH body that is not an object are refused with a clear error, and
// nothing is stored (SPEC §16).
func TestText_IsText(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	for _, tc := range []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"document with invalid UTF-8", req{method: "POST", path: docsPath(org, col), raw: []byte("{\"documents\":[{\"a\":\"\xff\xfe\"}]}")}, 400, "invalid_json"},
		{"document with a lone surrogate", req{method: "POST", path: docsPath(org, col), raw: []byte(`{"documents":[{"a":"\ud800"}]}`)}, 400, "invalid_json"},
		{"org name with a lone surrogate", req{method: "POST", path: "/v1/orgs", raw: []byte(`{"name":"Ev\udc00il","region":"us-west-2"}`)}, 400, "invalid_json"},
		{"org name with a bidi override", req{method: "POST", path: "/v1/orgs", body: map[string]any{"name": "Acme\u202egnp.exe", "region": "us-west-2"}}, 422, "invalid_request"},
		{"collection name with a zero-width space", req{method: "POST", path: "/v1/orgs/" + org + "/collections", body: map[string]any{"name": "ev\u200bents"}}, 422, "invalid_request"},
		{"token name with a zero-width joiner", req{method: "POST", path: "/v1/orgs/" + org + "/tokens", body: map[string]any{"name": "a\u200db", "role": "member"}}, 422, "invalid_request"},
		{"PATCH null", req{method: "PATCH", path: "/v1/orgs/" + org, raw: []byte(`null`)}, 400, "invalid_json"},
		{"PATCH an array", req{method: "PATCH", path: "/v1/orgs/" + org, raw: []byte(`[{"name":"x"}]`)}, 400, "invalid_json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = t }()
			tc.r.token = adminToken
			e.wantError(tc.status, tc.code, tc.r)
		})
	}
	e.t = t
	if n := e.count(`SELECT count(*) FROM documents`); n != 0 {
		t.Fatalf("%d documents stored", n)
	}
	if n := e.count(`SELECT count(*) FROM orgs`) + e.count(`SELECT count(*) FROM collections`) + e.count(`SELECT count(*) FROM tokens`); n != 2 {
		t.Fatalf("refused requests stored rows: %d orgs, collections and tokens, want 2", n)
	}
	if got := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org, token: adminToken})["name"]; got != "Acme" {
		t.Fatalf("the organisation is now called %v", got)
	}
}

// TestText_BodilessOperationsRefuseNonJSONBodies: a body on an operation that reads none is still
// refused unless it is JSON, with the 415 the document promises.
func TestText_BodilessOperationsRefuseNonJSONBodies(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	for _, path := range []string{"/v1/orgs", "/v1/orgs/" + org, "/v1/orgs/" + org + "/collections", "/v1/events"} {
		e.wantError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			req{method: "GET", path: path, token: adminToken, raw: []byte("name=x"), contentType: "application/x-www-form-urlencoded"})
	}
}
