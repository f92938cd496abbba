package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/config"
)

// TestHostile_DuplicateNamesAreRefused: a body that names a member twice in one object, at the top
// or nested, in an ingested document or spelled with an escape, is refused with 400
// malformed_request, and nothing is stored: no last-one-wins owner token, no document.
func TestHostile_DuplicateNamesAreRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, col := e.orgWithCollection()
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
	e.wantCount(0, "documents stored", `SELECT count(*) FROM documents`)
	if n := e.count(`SELECT count(*) FROM tokens`); n != tokens {
		t.Fatalf("%d tokens, want %d", n, tokens)
	}
	e.wantCount(1, "organisations", `SELECT count(*) FROM orgs`)
	// The same bodies without the duplicate are taken.
	e.must(201, req{method: "POST", path: docsPath(org, col), token: adminToken, raw: []byte(`{"documents":[ {"a": {"b": [ {"c":1, "d":2, "e" :3} ]}} ]}`)})
}

// TestHostile_NamesRefuseSeparatorsAndNoncharacters: line and paragraph separators and Unicode
// noncharacters in names are refused as format characters are, with 422 invalid_request, and
// nothing is stored.
func TestHostile_NamesRefuseSeparatorsAndNoncharacters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	for _, name := range []string{"Ev\u2028il", "Ev\u2029il", "Ev\ufdd0il", "Ev\uffffil", "Ev\U0001fffeil", "Ev\U0010ffffil"} {
		for _, r := range []req{
			{method: "POST", path: "/v1/orgs", body: map[string]any{"name": name, "region": "us-west-2"}},
			{method: "PATCH", path: "/v1/orgs/" + org, body: map[string]any{"name": name}},
			{method: "POST", path: "/v1/orgs/" + org + "/collections", body: map[string]any{"name": name}},
			{method: "POST", path: "/v1/orgs/" + org + "/tokens", body: map[string]any{"name": name, "role": "member"}},
		} {
			r.token = adminToken
			e.wantError(422, "invalid_request", r)
		}
	}
	if n := e.count(`SELECT count(*) FROM orgs`) + e.count(`SELECT count(*) FROM collections`); n != 1 {
		t.Fatalf("refused requests stored rows: %d organisations and collections, want 1", n)
	}
	e.wantCount(0, "tokens stored", `SELECT count(*) FROM tokens WHERE org_id = $1`, org)
	if got := e.must(200, req{method: "GET", path: "/v1/orgs/" + org, token: adminToken})["name"]; got != "Acme" {
		t.Fatalf("the organisation is now called %v", got)
	}
}

// TestHostile_WebhookURLsRefuseBadPortsAndEmbeddedAddresses: a port outside 1–65535 and an IPv6
// literal that embeds an internal IPv4 address are refused at creation with 422
// invalid_webhook_url, and no endpoint is stored.
func TestHostile_WebhookURLsRefuseBadPortsAndEmbeddedAddresses(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	for _, url := range []string{
		"https://hooks.example.com:0/cmekd", "https://hooks.example.com:99999/cmekd", "https://hooks.example.com:65536/cmekd",
		"http://127.0.0.1:0/cmekd", "https://[::ffff:0:127.0.0.1]/cmekd", "https://[::ffff:0:a9fe:a9fe]/cmekd",
		"https://[64:ff9b::10.0.0.1]/cmekd", "https://[2002:a9fe:a9fe::1]/cmekd", "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/cmekd",
	} {
		e.wantError(422, "invalid_webhook_url", req{method: "POST", path: "/v1/orgs/" + org + "/webhooks", token: adminToken,
			body: map[string]any{"url": url, "events": []string{"*"}}})
	}
	e.wantCount(0, "webhooks stored", `SELECT count(*) FROM webhooks`)
}

// TestHostile_OrgDeletedTellsWhatWasDestroyed: the org.deleted event counts the data keys destroyed,
// the grants being retired and the backups deleted with the organisation.
func TestHostile_OrgDeletedTellsWhatWasDestroyed(t *testing.T) {
	t.Parallel()
	e := setup(t, grantMode)
	dataKey, backupKey := e.grantKey(), e.grantKey()
	org := e.must(201, req{method: "POST", path: "/v1/orgs", token: adminToken, body: map[string]any{
		"name": "Doomed", "region": home,
		"encryption": map[string]any{"mode": "customer_managed", "key_arn": dataKey, "backup_key_arn": backupKey}}})["id"].(string)
	for _, name := range []string{"a", "b"} {
		col := e.collection(org, name, true)["id"].(string)
		e.ingest(org, col, map[string]any{"n": 1})
		e.backup(org, col, adminToken)
	}
	keys := e.count(`SELECT count(*) FROM data_keys WHERE org_id = $1`, org)
	grants := e.count(`SELECT count(*) FROM grants WHERE org_id = $1 AND status = 'active'`, org)
	if keys < 2 || grants != 2 {
		t.Fatalf("%d data keys and %d grants before the delete", keys, grants)
	}
	e.must(204, req{method: "DELETE", path: "/v1/orgs/" + org, token: adminToken})
	evs := e.must(200, req{method: "GET", path: "/v1/events?type=org.deleted", token: adminToken})["events"].([]any)
	if len(evs) != 1 {
		t.Fatalf("org.deleted events: %v", evs)
	}
	got := evs[0].(map[string]any)["details"]
	want := map[string]any{"data_keys_destroyed": float64(keys), "grants_retiring": float64(grants), "backups_deleted": float64(2)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("details %v, want %v", got, want)
	}
}

// TestHostile_PerOrganisationLimitsHoldUnderConcurrentCreations: with small configured limits, ten
// concurrent creations of each limited thing create exactly the limit, and the rest answer 422
// limit_exceeded with details.limit and the count; revoked tokens and new versions of a secret do
// not count, and another organisation has limits of its own.
func TestHostile_PerOrganisationLimitsHoldUnderConcurrentCreations(t *testing.T) {
	t.Parallel()
	const limit = 3
	e := setup(t, func(c *config.Config) {
		c.MaxTokensPerOrg, c.MaxWebhooksPerOrg, c.MaxCollectionsPerOrg = limit, limit, limit
		c.MaxSecretScopesPerOrg, c.MaxSecretsPerScope, c.MaxWorkspacesPerOrg = limit, limit, limit
	})
	org, _ := e.cmekOrg("Acme")
	owner := e.token(org, "owner") // one of the limit's tokens
	e.must(201, req{method: "POST", path: "/v1/orgs/" + org + "/secret-scopes", token: owner, body: map[string]any{"name": "prod"}})
	base := "/v1/orgs/" + org
	for _, tc := range []struct {
		what  string
		limit int // what is left of the limit
		r     func(i int) req
		rows  string
	}{
		{"tokens", limit - 1, func(i int) req {
			return req{method: "POST", path: base + "/tokens", body: map[string]any{"name": fmt.Sprint("t", i), "role": "member"}}
		}, `SELECT count(*) FROM tokens WHERE org_id = $1`},
		{"webhooks", limit, func(i int) req {
			return req{method: "POST", path: base + "/webhooks", body: map[string]any{"url": fmt.Sprintf("http://127.0.0.1:9/%d", i), "events": []string{"*"}}}
		}, `SELECT count(*) FROM webhooks WHERE org_id = $1`},
		{"collections", limit, func(i int) req {
			return req{method: "POST", path: base + "/collections", body: map[string]any{"name": fmt.Sprint("c", i)}}
		}, `SELECT count(*) FROM collections WHERE org_id = $1`},
		{"secret scopes", limit - 1, func(i int) req {
			return req{method: "POST", path: base + "/secret-scopes", body: map[string]any{"name": fmt.Sprint("s", i)}}
		}, `SELECT count(*) FROM secret_scopes WHERE org_id = $1`},
		{"workspaces", limit, func(i int) req {
			return req{method: "POST", path: base + "/workspaces", body: map[string]any{"name": fmt.Sprint("w", i)}}
		}, `SELECT count(*) FROM workspaces WHERE org_id = $1`},
		{"secrets", limit, func(i int) req {
			return req{method: "PUT", path: base + "/secret-scopes/prod/secrets/" + fmt.Sprint("k", i), body: map[string]any{"value": "v"}}
		}, `SELECT count(*) FROM secrets WHERE org_id = $1`},
	} {
		t.Run(tc.what, func(t *testing.T) {
			var wg sync.WaitGroup
			statuses := make([]response, 10)
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := tc.r(i)
					r.token = owner
					statuses[i] = e.do(r)
				}()
			}
			wg.Wait()
			created := 0
			for _, resp := range statuses {
				switch resp.Status {
				case 201:
					created++
				case 422:
					var body struct {
						Error struct {
							Code    string
							Details map[string]any
						}
					}
					if err := json.Unmarshal(resp.Body, &body); err != nil || body.Error.Code != "limit_exceeded" ||
						body.Error.Details["limit"] != float64(limit) || body.Error.Details["count"] != float64(limit) {
						t.Fatalf("422 %s", resp.Body)
					}
				default:
					t.Fatalf("%d %s", resp.Status, resp.Body)
				}
			}
			if created != tc.limit {
				t.Fatalf("%d created, want %d", created, tc.limit)
			}
			if n := e.count(tc.rows, org); n != limit {
				t.Fatalf("%d stored, want %d", n, limit)
			}
		})
	}
	// A new version of a key within the limit is no new key; a revoked token frees its place.
	for _, s := range e.must(200, req{method: "GET", path: base + "/secret-scopes/prod/secrets", token: owner})["secrets"].([]any) {
		e.must(200, req{method: "PUT", path: base + "/secret-scopes/prod/secrets/" + s.(map[string]any)["key"].(string), token: owner, body: map[string]any{"value": "v2"}})
	}
	toks := e.must(200, req{method: "GET", path: base + "/tokens", token: adminToken})["tokens"].([]any)
	for _, tok := range toks {
		if id := tok.(map[string]any)["id"].(string); tok.(map[string]any)["role"] == "member" {
			e.must(204, req{method: "DELETE", path: base + "/tokens/" + id, token: adminToken})
			break
		}
	}
	e.must(201, req{method: "POST", path: base + "/tokens", token: adminToken, body: map[string]any{"name": "again", "role": "member"}})
	e.wantError(422, "limit_exceeded", req{method: "POST", path: base + "/tokens", token: adminToken, body: map[string]any{"name": "more", "role": "member"}})
	other := e.createOrg("Other")
	e.must(201, req{method: "POST", path: "/v1/orgs/" + other + "/collections", token: adminToken, body: map[string]any{"name": "c"}})
}

// TestHostile_KeyChecksAreRateLimitedPerOrganisation: an organisation's tokens together cannot make
// more key checks at once than the organisation's bucket holds, though each stays within its own.
func TestHostile_KeyChecksAreRateLimitedPerOrganisation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, key := e.cmekOrg("Acme")
	limited := 0
	for range 4 {
		tok := e.token(org, "member")
		for range 8 { // within a token's burst of 10
			resp := e.do(req{method: "POST", path: "/v1/key-checks", token: tok, body: map[string]any{"key_arn": key}})
			switch {
			case resp.Status == 429 && resp.Code(t) == "rate_limited" && resp.Header.Get("Retry-After") != "":
				limited++
			case resp.Status != 200:
				t.Fatalf("%d %s", resp.Status, resp.Body)
			}
		}
	}
	if limited == 0 {
		t.Fatal("32 key checks at once from four tokens of one organisation were never limited")
	}
	other, otherKey := e.cmekOrg("Other")
	e.must(200, req{method: "POST", path: "/v1/key-checks", token: e.token(other, "member"), body: map[string]any{"key_arn": otherKey}})
}

// TestText_IsText: invalid UTF-8 anywhere in a body, escapes of lone surrogates, Unicode format
// characters in names, and a PATCH body that is not an object are refused with a clear error, and
// nothing is stored.
func TestText_IsText(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, col := e.orgWithCollection()
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
