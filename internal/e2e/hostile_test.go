package e2e_test

import (
	"fmt"
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
	if n := e.count(`SELECT count(*) FROM tokens WHERE org_id = $1`, org); n != 0 {
		t.Fatalf("%d tokens stored", n)
	}
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
	if n := e.count(`SELECT count(*) FROM webhooks`); n != 0 {
		t.Fatalf("%d webhooks stored", n)
	}
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
