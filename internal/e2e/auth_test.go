package e2e_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestAuth_MissingOrBadTokenIs401WithChallenge(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, tok := range []string{"", "nope", "cmekd_not-a-real-token", adminToken + "x"} {
		r := e.wantError(http.StatusUnauthorized, "unauthorized", req{method: "GET", path: "/v1/orgs", token: tok})
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("token %q: WWW-Authenticate %q", tok, r.Header.Get("WWW-Authenticate"))
		}
	}
	r := e.wantError(http.StatusUnauthorized, "unauthorized", req{method: "GET", path: "/v1/orgs", header: map[string]string{"Authorization": "Basic " + adminToken}})
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("no challenge")
	}
}

func TestTokens_SecretShownOnceAndStoredOnlyAsHash(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	created := e.do(req{method: "POST", path: "/v1/orgs/" + org + "/tokens", token: adminToken, body: map[string]any{"name": "ci", "role": "member"}})
	if created.Status != http.StatusCreated {
		t.Fatalf("create token: %d %s", created.Status, created.Body)
	}
	tok := created.JSON(t)
	secret := tok["token"].(string)
	if len(secret) < 43 || !strings.HasPrefix(secret, "cmekd_") {
		t.Fatalf("secret %q is too short for 32 random bytes", secret)
	}
	if created.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", created.Header.Get("Cache-Control"))
	}
	list := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/tokens", token: adminToken})
	toks := list["tokens"].([]any)
	if len(toks) != 1 || toks[0].(map[string]any)["token"] != nil || toks[0].(map[string]any)["id"] != tok["id"] {
		t.Fatalf("list %v", list)
	}
	// The database holds the hash, never the secret, in any column of any table.
	sum := sha256.Sum256([]byte(secret))
	if n := e.count(`SELECT count(*) FROM tokens WHERE secret_hash = $1`, sum[:]); n != 1 {
		t.Fatalf("hash stored %d times", n)
	}
	assertNowhereInDatabase(t, e, secret)
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("the token secret is in the logs")
	}
	// The token works, then stops working once revoked.
	e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org, token: secret})
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org + "/tokens/" + tok["id"].(string), token: adminToken})
	e.wantError(http.StatusUnauthorized, "unauthorized", req{method: "GET", path: "/v1/orgs/" + org, token: secret})
	e.wantError(http.StatusNotFound, "not_found", req{method: "DELETE", path: "/v1/orgs/" + org + "/tokens/" + tok["id"].(string), token: adminToken})
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "POST", path: "/v1/orgs/" + org + "/tokens", token: adminToken, body: map[string]any{"name": "x", "role": "admin"}})
}

// assertNowhereInDatabase dumps every table as text and fails if needle appears.
func assertNowhereInDatabase(t *testing.T, e *env, needle string) {
	t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		var hits int
		if err := e.db.QueryRow(context.Background(),
			`SELECT count(*) FROM `+table+` t WHERE strpos(t::text, $1) > 0 OR strpos(encode(convert_to(t::text, 'UTF8'), 'escape'), $1) > 0`, needle).Scan(&hits); err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		if hits > 0 {
			t.Fatalf("table %s holds %q", table, needle)
		}
	}
}

// TestRoles_Matrix checks the role table for the organisation and token routes: who may, who gets 403.
func TestRoles_Matrix(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	tokens := map[string]string{"admin": adminToken, "owner": e.token(org, "owner"), "operator": e.token(org, "operator"), "member": e.token(org, "member")}
	type route struct {
		name    string
		r       func() req
		allowed []string
		ok      int
	}
	routes := []route{
		{"create org", func() req {
			return req{method: "POST", path: "/v1/orgs", body: map[string]any{"name": "refused", "region": "us-west-2"}}
		}, []string{"admin"}, 201},
		{"list orgs", func() req { return req{method: "GET", path: "/v1/orgs"} }, []string{"admin", "owner", "operator", "member"}, 200},
		{"read org", func() req { return req{method: "GET", path: "/v1/orgs/" + org} }, []string{"admin", "owner", "operator", "member"}, 200},
		{"read events", func() req { return req{method: "GET", path: "/v1/orgs/" + org + "/events"} }, []string{"admin", "owner", "operator", "member"}, 200},
		{"rename org", func() req { return req{method: "PATCH", path: "/v1/orgs/" + org, body: map[string]any{"name": "Acme"}} }, []string{"admin", "owner"}, 200},
		{"create token", func() req {
			return req{method: "POST", path: "/v1/orgs/" + org + "/tokens", body: map[string]any{"name": "t", "role": "member"}}
		}, []string{"admin", "owner"}, 201},
		{"list tokens", func() req { return req{method: "GET", path: "/v1/orgs/" + org + "/tokens"} }, []string{"admin", "owner"}, 200},
	}
	for _, rt := range routes {
		for who, tok := range tokens {
			r := rt.r()
			r.token = tok
			allowed := false
			for _, a := range rt.allowed {
				allowed = allowed || a == who
			}
			if rt.name == "create org" && allowed {
				r.body = map[string]any{"name": "created by " + who, "region": "us-west-2"}
			}
			got := e.do(r)
			switch {
			case allowed && got.Status != rt.ok:
				t.Errorf("%s as %s: %d, want %d: %s", rt.name, who, got.Status, rt.ok, got.Body)
			case !allowed && (got.Status != http.StatusForbidden || got.Code(t) != "forbidden"):
				t.Errorf("%s as %s: %d %s, want 403 forbidden", rt.name, who, got.Status, got.Body)
			}
		}
	}
	// Revoking tokens and deleting organisations.
	victim := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/tokens", token: adminToken, body: map[string]any{"name": "v", "role": "member"}})["id"].(string)
	for _, who := range []string{"member", "operator"} {
		e.wantError(http.StatusForbidden, "forbidden", req{method: "DELETE", path: "/v1/orgs/" + org + "/tokens/" + victim, token: tokens[who]})
	}
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org + "/tokens/" + victim, token: tokens["owner"]})
	for _, who := range []string{"member", "operator", "owner"} {
		e.wantError(http.StatusForbidden, "forbidden", req{method: "DELETE", path: "/v1/orgs/" + org, token: tokens[who]})
	}
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org, token: tokens["admin"]})
	// Deleting the organisation took its tokens with it.
	e.wantError(http.StatusUnauthorized, "unauthorized", req{method: "GET", path: "/v1/orgs", token: tokens["owner"]})
}

func TestTenantIsolation_OtherOrgIs404(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a, b := e.createOrg("A"), e.createOrg("B")
	ownerA := e.token(a, "owner")
	bTok := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + b + "/tokens", token: adminToken, body: map[string]any{"name": "b", "role": "member"}})["id"].(string)
	for _, r := range []req{
		{method: "GET", path: "/v1/orgs/" + b},
		{method: "PATCH", path: "/v1/orgs/" + b, body: map[string]any{"name": "mine"}},
		{method: "GET", path: "/v1/orgs/" + b + "/tokens"},
		{method: "POST", path: "/v1/orgs/" + b + "/tokens", body: map[string]any{"name": "x", "role": "owner"}},
		{method: "DELETE", path: "/v1/orgs/" + b + "/tokens/" + bTok},
		{method: "GET", path: "/v1/orgs/" + b + "/events"},
		{method: "GET", path: "/v1/orgs/org_doesnotexist0000"},
	} {
		r.token = ownerA
		e.wantError(http.StatusNotFound, "not_found", r)
	}
	list := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs", token: ownerA})
	if orgs := list["orgs"].([]any); len(orgs) != 1 || orgs[0].(map[string]any)["id"] != a {
		t.Fatalf("an organisation token listed %v", orgs)
	}
	if n := e.count(`SELECT count(*) FROM tokens WHERE org_id = $1 AND revoked_at IS NULL`, b); n != 1 {
		t.Fatalf("org B has %d live tokens, want 1", n)
	}
	if got := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + b, token: adminToken}); got["name"] != "B" {
		t.Fatalf("org B renamed to %v", got["name"])
	}
}

func TestKeyLinkTrigger_RefusesDirectUpdate(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	_, err := e.db.Exec(ctx, `INSERT INTO orgs (id, name, region, encryption_mode, created_at) VALUES ('org_0000000000000000', 'x', 'us-west-2', 'customer_managed', now());
INSERT INTO key_links (org_id, region, purpose, key_arn, created_at) VALUES ('org_0000000000000000', 'us-west-2', 'data', 'arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab', now())`)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE key_links SET key_arn = 'arn:aws:kms:us-west-2:111122223333:key/00000000-0000-4000-8000-000000000000'`,
		`UPDATE key_links SET region = 'us-east-1'`,
		`UPDATE key_links SET key_arn = key_arn`,
	} {
		_, err := e.db.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "immutable") {
			t.Fatalf("%s: err %v, want the trigger's refusal", stmt, err)
		}
	}
	if n := e.count(`SELECT count(*) FROM key_links WHERE key_arn LIKE '%1234abcd-12ab-34cd-56ef-1234567890ab'`); n != 1 {
		t.Fatal("the key link changed")
	}
}

func TestOps_HealthReadyMetricsOpenAPIAndRequestID(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.must(http.StatusOK, req{method: "GET", path: "/healthz"})
	if r := e.must(http.StatusOK, req{method: "GET", path: "/readyz"}); r["status"] != "ready" {
		t.Fatalf("readyz %v", r)
	}
	r := e.do(req{method: "GET", path: "/v1/orgs", token: adminToken, header: map[string]string{"X-Request-Id": "trace-123"}})
	if r.Header.Get("X-Request-Id") != "trace-123" {
		t.Fatalf("X-Request-Id %q not echoed", r.Header.Get("X-Request-Id"))
	}
	m := e.do(req{method: "GET", path: "/metrics"})
	if m.Status != 200 || !strings.Contains(string(m.Body), `cmekd_http_requests_total{method="GET",route="/v1/orgs",status="200"} 1`) {
		t.Fatalf("metrics lack the request count:\n%.2000s", m.Body)
	}
	doc := e.do(req{method: "GET", path: "/openapi.yaml"})
	if doc.Status != 200 || !strings.Contains(string(doc.Body), "openapi: 3.0.3") {
		t.Fatalf("openapi.yaml: %d", doc.Status)
	}
	if e.do(req{method: "GET", path: "/nope", unvalidated: true}).Status != 404 {
		t.Fatal("unknown route is not 404")
	}
}

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
