package e2e_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestText_IsText: invalid UTF-8 anywhere in a body, escapes of lone surrogates, Unicode format
// characters in names, and a PATCH body that is not an object are refused with a clear error, and
// nothing is stored.
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
	e.wantCount(0, "documents stored", `SELECT count(*) FROM documents`)
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

// TestText_UnparseableRequestsGetTheErrorBody: a request net/http cannot even parse (bad
// percent-escapes, a malformed request line, headers too large) is answered before any route, still
// with the API's error body and an X-Request-Id.
func TestText_UnparseableRequestsGetTheErrorBody(t *testing.T) {
	t.Parallel()
	e := setup(t)
	addr := strings.TrimPrefix(e.url, "http://")
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"bad percent-escape", "GET /v1/orgs/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"malformed request line", "GARBAGE\r\n\r\n", 400},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			go func() { _, _ = io.WriteString(c, tc.raw) }()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct {
					Code, Message string
					Details       map[string]any
				}
				RequestID string `json:"request_id"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("the body is not the API's error body: %v", err)
			}
			if resp.StatusCode != tc.status || body.Error.Code != "malformed_request" || body.Error.Details == nil ||
				body.RequestID == "" || resp.Header.Get("X-Request-Id") != body.RequestID {
				t.Fatalf("%d %+v (X-Request-Id %q)", resp.StatusCode, body, resp.Header.Get("X-Request-Id"))
			}
		})
	}
}
