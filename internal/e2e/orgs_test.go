package e2e_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/config"
)

func TestOrgs_ProviderManagedLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	o := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs", token: adminToken,
		body: map[string]any{"name": "  Acme  ", "region": "us-west-2"}})
	id := o["id"].(string)
	if !strings.HasPrefix(id, "org_") || o["name"] != "Acme" || o["region"] != "us-west-2" {
		t.Fatalf("created %v", o)
	}
	enc := o["encryption"].(map[string]any)
	if enc["mode"] != "provider_managed" || enc["key_arn"] != nil || enc["status"] != "healthy" {
		t.Fatalf("encryption %v", enc)
	}
	got := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + id, token: adminToken})
	if got["id"] != id || got["created_at"] != o["created_at"] {
		t.Fatalf("get %v, want %v", got, o)
	}
	renamed := e.must(http.StatusOK, req{method: "PATCH", path: "/v1/orgs/" + id, token: adminToken, body: map[string]any{"name": "Acme Corp"}})
	if renamed["name"] != "Acme Corp" {
		t.Fatalf("renamed %v", renamed)
	}
	list := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs", token: adminToken})
	if orgs := list["orgs"].([]any); len(orgs) != 1 || orgs[0].(map[string]any)["name"] != "Acme Corp" || list["next_cursor"] != "" {
		t.Fatalf("list %v", list)
	}
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + id, token: adminToken})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: "/v1/orgs/" + id, token: adminToken})
	e.wantCount(0, "orgs left", `SELECT count(*) FROM orgs`)
	e.wantCount(2, "lifecycle events", `SELECT count(*) FROM events WHERE org_id = $1 AND type IN ('org.created', 'org.deleted')`, id)
}

func TestOrgs_NameTakenIgnoringCase(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.createOrg("Acme")
	e.wantError(http.StatusConflict, "org_name_taken", req{method: "POST", path: "/v1/orgs", token: adminToken,
		body: map[string]any{"name": "acme", "region": "us-west-2"}})
	other := e.createOrg("Other")
	e.wantError(http.StatusConflict, "org_name_taken", req{method: "PATCH", path: "/v1/orgs/" + other, token: adminToken,
		body: map[string]any{"name": "ACME"}})
}

func TestOrgs_ListPaginates(t *testing.T) {
	t.Parallel()
	e := setup(t)
	want := map[string]bool{}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		want[e.createOrg(n)] = true
	}
	seen := map[string]bool{}
	cursor := ""
	pages := 0
	for {
		page := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs?limit=2&cursor=" + cursor, token: adminToken})
		pages++
		for _, o := range page["orgs"].([]any) {
			id := o.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("%s listed twice", id)
			}
			seen[id] = true
		}
		if cursor = page["next_cursor"].(string); cursor == "" {
			break
		}
	}
	if len(seen) != len(want) || pages != 3 {
		t.Fatalf("saw %d orgs in %d pages, want %d in 3", len(seen), pages, len(want))
	}
	e.wantError(http.StatusBadRequest, "invalid_cursor", req{method: "GET", path: "/v1/orgs?cursor=%21%21", token: adminToken})
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "GET", path: "/v1/orgs?limit=501", token: adminToken})
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "GET", path: "/v1/orgs?limit=0", token: adminToken})
}

// TestCreateOrg_KeyARNRules walks every refusing key ARN rule; each answers its 422 code and
// stores nothing.
func TestCreateOrg_KeyARNRules(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *config.Config) { c.MultiRegionKeys = "required" })
	f := setup(t, func(c *config.Config) { c.MultiRegionKeys = "rejected" })
	const uuid = "1234abcd-12ab-34cd-56ef-1234567890ab"
	const mrk = "mrk-1234abcd12ab34cd56ef1234567890ab"
	cases := []struct {
		name, region, arn, code string
		rejected                bool // run against the deployment that rejects multi-region keys
	}{
		{"alias ARN", "us-west-2", "arn:aws:kms:us-west-2:111122223333:alias/name", "alias_not_supported", false},
		{"alias name", "us-west-2", "alias/name", "key_arn_required", false},
		{"bare key id", "us-west-2", uuid, "key_arn_required", false},
		{"bare mrk id", "us-west-2", mrk, "key_arn_required", false},
		{"empty key arn", "us-west-2", "", "key_arn_required", false},
		{"other service", "us-west-2", "arn:aws:s3:us-west-2:111122223333:key/" + mrk, "invalid_key_arn", false},
		{"bad account", "us-west-2", "arn:aws:kms:us-west-2:11112222333:key/" + mrk, "invalid_key_arn", false},
		{"bad key id", "us-west-2", "arn:aws:kms:us-west-2:111122223333:key/not-a-key", "invalid_key_arn", false},
		{"uppercase key id", "us-west-2", "arn:aws:kms:us-west-2:111122223333:key/" + strings.ToUpper(uuid), "invalid_key_arn", false},
		{"partition of another region family", "us-west-2", "arn:aws-cn:kms:us-west-2:111122223333:key/" + mrk, "invalid_key_arn", false},
		{"2 KiB", "us-west-2", "arn:aws:kms:us-west-2:111122223333:key/" + strings.Repeat("a", 2048), "invalid_key_arn", false},
		{"region mismatch", "us-east-1", "arn:aws:kms:us-west-2:111122223333:key/" + mrk, "key_region_mismatch", false},
		{"unsupported region", "ap-south-1", "arn:aws:kms:ap-south-1:111122223333:key/" + mrk, "unsupported_region", false},
		{"single-region key where multi-region is required", "us-west-2", "arn:aws:kms:us-west-2:111122223333:key/" + uuid, "multi_region_key_required", false},
		{"multi-region key where it is rejected", "us-west-2", "arn:aws:kms:us-west-2:111122223333:key/" + mrk, "multi_region_key_not_supported", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := e
			if tc.rejected {
				target = f
			}
			target.t = t
			target.wantError(http.StatusUnprocessableEntity, tc.code, req{method: "POST", path: "/v1/orgs", token: adminToken,
				body: map[string]any{"name": "org " + tc.name, "region": tc.region,
					"encryption": map[string]any{"mode": "customer_managed", "key_arn": tc.arn}}})
		})
	}
	for _, env := range []*env{e, f} {
		env.t = t
		if n := env.count(`SELECT count(*) FROM orgs`) + env.count(`SELECT count(*) FROM key_links`) + env.count(`SELECT count(*) FROM events`); n != 0 {
			t.Fatalf("refused requests stored %d rows", n)
		}
	}
}

func TestCreateOrg_RefusesBadRequests(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cases := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"malformed JSON", req{raw: []byte(`{"name": "x",`)}, 400, "invalid_json"},
		{"not an object", req{raw: []byte(`[1,2]`)}, 400, "invalid_json"},
		{"wrong type", req{raw: []byte(`{"name": 7, "region": "us-west-2"}`)}, 400, "invalid_json"},
		{"two values", req{raw: []byte(`{"name": "x", "region": "us-west-2"} {}`)}, 400, "invalid_json"},
		{"empty body", req{raw: []byte(``)}, 400, "invalid_json"},
		{"unknown field", req{body: map[string]any{"name": "x", "region": "us-west-2", "plan": "gold"}}, 400, "unknown_field"},
		{"unknown nested field", req{body: map[string]any{"name": "x", "region": "us-west-2", "encryption": map[string]any{"mode": "provider_managed", "rotate": true}}}, 400, "unknown_field"},
		{"wrong content type", req{raw: []byte(`{"name": "x", "region": "us-west-2"}`), contentType: "text/plain"}, 415, "unsupported_media_type"},
		{"form content type", req{raw: []byte(`name=x`), contentType: "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"oversized body", req{raw: []byte(`{"name": "` + strings.Repeat("x", 2<<20) + `"}`)}, 413, "payload_too_large"},
		{"missing name", req{body: map[string]any{"region": "us-west-2"}}, 422, "invalid_request"},
		{"long name", req{body: map[string]any{"name": strings.Repeat("n", 101), "region": "us-west-2"}}, 422, "invalid_request"},
		{"control character in name", req{body: map[string]any{"name": "a\x00b", "region": "us-west-2"}}, 422, "invalid_request"},
		{"missing region", req{body: map[string]any{"name": "x"}}, 422, "invalid_request"},
		{"unsupported region", req{body: map[string]any{"name": "x", "region": "mars-east-1"}}, 422, "unsupported_region"},
		{"unknown mode", req{body: map[string]any{"name": "x", "region": "us-west-2", "encryption": map[string]any{"mode": "bring_your_own"}}}, 422, "invalid_request"},
		{"provider mode with a key", req{body: map[string]any{"name": "x", "region": "us-west-2", "encryption": map[string]any{"mode": "provider_managed", "key_arn": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}}, 422, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			r := tc.r
			r.method, r.path, r.token = "POST", "/v1/orgs", adminToken
			e.wantError(tc.status, tc.code, r)
		})
	}
	e.t = t
	e.wantCount(0, "orgs stored by refused requests", `SELECT count(*) FROM orgs`)
}

func TestPatchOrg_KeyLinkIsImmutable(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.createOrg("Acme")
	owner := e.token(id, "owner")
	e.wantError(http.StatusConflict, "cmek_requires_new_org", req{method: "PATCH", path: "/v1/orgs/" + id, token: owner,
		body: map[string]any{"encryption": map[string]any{"mode": "customer_managed", "key_arn": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}})
	e.wantError(http.StatusConflict, "key_link_immutable", req{method: "PATCH", path: "/v1/orgs/" + id, token: adminToken,
		body: map[string]any{"name": "New", "encryption": map[string]any{"mode": "provider_managed"}}})
	e.wantError(http.StatusConflict, "key_link_immutable", req{method: "PATCH", path: "/v1/orgs/" + id, token: adminToken,
		body: map[string]any{"encryption": nil}})
	got := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + id, token: adminToken})
	if got["name"] != "Acme" {
		t.Fatalf("a refused PATCH renamed the organisation: %v", got)
	}
}

// cursorOf is a cursor as the server encodes one: base64url of raw, its JSON.
func cursorOf(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }

// seqCursor is the cursor of a list ordered by seq that continues after (or before) seq.
func seqCursor(seq int64) string { return cursorOf(fmt.Sprintf(`{"s":%d}`, seq)) }

// TestLists_ForgedCursorsAreRefusedNever500: a cursor is opaque, but a client can forge one; whatever
// it decodes to, every list answers 200 or 400 invalid_cursor.
func TestLists_ForgedCursorsAreRefusedNever500(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, col := e.orgWithCollection()
	forged := []string{
		"not base64!", "bm90IGpzb24", // "not json"
		cursorOf(`{"i":"\u0000","t":"2026-01-01T00:00:00Z"}`),
		cursorOf(`{"i":"x","t":"9999-12-31T23:59:59Z"}`),
		cursorOf(`{"i":"x","t":"0001-01-01T00:00:01Z"}`),
		cursorOf(`{"s":-5}`),
		cursorOf(`{"s":9223372036854775807}`),
		cursorOf(`{"s":1e400}`),
		cursorOf(`[]`),
	}
	for _, path := range []string{"/v1/orgs", "/v1/orgs/" + org + "/tokens", "/v1/orgs/" + org + "/events",
		"/v1/orgs/" + org + "/collections", "/v1/orgs/" + org + "/collections/" + col + "/documents"} {
		for _, c := range forged {
			resp := e.do(req{method: "GET", path: path + "?cursor=" + url.QueryEscape(c), token: adminToken})
			if resp.Status != http.StatusOK && (resp.Status != http.StatusBadRequest || resp.Code(t) != "invalid_cursor") {
				t.Errorf("%s with cursor %q: %d %s", path, c, resp.Status, resp.Body)
			}
		}
	}
}

// TestPaths_ForgedIDsAre404Never500: ids in paths and filters come from clients; any bytes in them
// answer 404 (or 422 for a filter), never 500.
func TestPaths_ForgedIDsAre404Never500(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, col := e.orgWithCollection()
	for _, id := range []string{"%00", "org%00x", "%FF%FE", "%E2%80%AE", strings.Repeat("a", 5000), "..%2F..", "%27%3B--"} {
		for _, r := range []req{
			{method: "GET", path: "/v1/orgs/" + id},
			{method: "GET", path: "/v1/orgs/" + org + "/collections/" + id},
			{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col + "/documents/" + id},
			{method: "DELETE", path: "/v1/orgs/" + org + "/tokens/" + id},
			{method: "POST", path: "/v1/orgs/" + org + "/collections/" + id + "/resume"},
		} {
			r.token = adminToken
			r.unvalidated = true // the document's path patterns cannot describe such ids
			if resp := e.do(r); resp.Status != http.StatusNotFound {
				t.Errorf("%s %s: %d %s", r.method, r.path, resp.Status, resp.Body)
			}
		}
		resp := e.do(req{method: "GET", path: "/v1/orgs/" + org + "/events?type=" + id, token: adminToken, unvalidated: true})
		if resp.Status != http.StatusUnprocessableEntity && resp.Status != http.StatusOK {
			t.Errorf("events?type=%s: %d %s", id, resp.Status, resp.Body)
		}
	}
}
