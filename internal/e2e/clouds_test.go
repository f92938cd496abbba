package e2e_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/testing/cloudtest"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// cloudKey is a customer's key of Google Cloud or Azure, driven through the cloud's own SDK.
type cloudKey struct {
	provider, id, region string
	// otherRegion is a second region the deployment serves for the provider.
	otherRegion string
	// grant gives the platform exactly the access cmekd's JSON says (drop: roles left out).
	grant func(t *testing.T, access []byte, drop ...string)
	// disable and enable the key (the primary version, for Google Cloud); rotate makes a new one.
	disable, enable, rotate func(t *testing.T)
	// revoke takes the platform's access away again.
	revoke func(t *testing.T)
}

// access is what cmekd tells the customer to grant on the key, as JSON.
func (e *env) access(k cloudKey) []byte {
	e.t.Helper()
	q := url.Values{"provider": {k.provider}, "key_id": {k.id}, "format": {"json"}}
	resp := e.do(req{method: "GET", path: "/v1/key-policy?" + q.Encode(), token: adminToken})
	if resp.Status != http.StatusOK {
		e.t.Fatalf("key policy: %d %s", resp.Status, resp.Body)
	}
	for _, format := range []string{"terraform", "cli"} {
		q.Set("format", format)
		text := e.do(req{method: "GET", path: "/v1/key-policy?" + q.Encode(), token: adminToken})
		if text.Status != http.StatusOK || !strings.Contains(string(text.Body), k.id[strings.LastIndex(k.id, "/")+1:]) {
			e.t.Errorf("key policy as %s: %d %s", format, text.Status, text.Body)
		}
	}
	return resp.Body
}

// probe probes the organisation's keys now.
func (e *env) probe(org string) {
	e.t.Helper()
	e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: adminToken})
}

// onboard creates the organisation name on k, in k's region, and returns it.
func (e *env) onboard(name string, k cloudKey) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs", token: adminToken, body: map[string]any{
		"name": name, "region": k.region,
		"encryption": map[string]any{"mode": "customer_managed", "provider": k.provider, "key_id": k.id}}})
}

// refusedKey is an encryption that a cloud's identifier rules refuse before anything is stored, and
// the code they refuse it with.
type refusedKey struct {
	enc  map[string]any // mode is added, and provider unless it is set
	code string
}

// wantRefused checks that onboarding an organisation in region on each of refused, provider's unless
// it says otherwise, answers 422 with its code.
func (e *env) wantRefused(provider, region string, refused ...refusedKey) {
	e.t.Helper()
	for _, c := range refused {
		c.enc["mode"] = "customer_managed"
		if c.enc["provider"] == nil {
			c.enc["provider"] = provider
		}
		e.wantError(http.StatusUnprocessableEntity, c.code, req{method: "POST", path: "/v1/orgs", token: adminToken,
			body: map[string]any{"name": "Refused " + c.code, "region": region, "encryption": c.enc}})
	}
}

// walkCloudKey onboards an organisation on k, stores and reads documents, and follows the key
// through disable, enable, rotation and revocation, as the customer's cloud tells them.
func walkCloudKey(t *testing.T, e *env, k cloudKey) {
	check := func(wantOK bool) map[string]any {
		t.Helper()
		return e.must(http.StatusOK, req{method: "POST", path: "/v1/key-checks", token: adminToken,
			body: map[string]any{"provider": k.provider, "key_id": k.id, "region": k.region}})
	}
	if kc := check(false); kc["ok"] != false || kc["provider"] != k.provider {
		t.Fatalf("a key the platform was granted nothing on passed its check: %v", kc)
	}
	access := e.access(k)
	k.grant(t, access)
	if kc := check(true); kc["ok"] != true || kc["key_id"] != k.id || kc["key_arn"] != nil {
		t.Fatalf("key check after granting exactly the access cmekd gave: %v", kc)
	}
	o := e.onboard("Acme "+k.provider, k)
	enc := o["encryption"].(map[string]any)
	if enc["provider"] != k.provider || enc["key_id"] != k.id || enc["key_arn"] != nil || enc["status"] != "healthy" {
		t.Fatalf("organisation's encryption %v", enc)
	}
	org := o["id"].(string)
	col := e.collection(org, "events", true)["id"].(string)
	ids := e.ingest(org, col, map[string]any{"n": 1}, map[string]any{"n": 2})
	if got := e.readDoc(org, col, ids[1]); got != `{"n":2}` {
		t.Fatalf("read back %s", got)
	}

	k.disable(t)
	e.probe(org)
	e.waitState(org, col, "ingest_halted")
	e.wantError(http.StatusConflict, "collection_ingest_halted", req{method: "POST", path: docsPath(org, col), token: adminToken,
		body: map[string]any{"documents": []any{map[string]any{"n": 3}}}})
	k.enable(t)
	e.probe(org)
	e.waitState(org, col, "active")

	// Rotation: new data is wrapped under the new version, the old stays readable.
	k.rotate(t)
	more := e.ingest(org, col, map[string]any{"n": 3})
	for i, id := range append(ids, more...) {
		if got := e.readDoc(org, col, id); got != `{"n":`+string(rune('1'+i))+`}` {
			t.Fatalf("after rotation, document %d reads %s", i, got)
		}
	}

	k.revoke(t)
	e.probe(org)
	c := e.waitState(org, col, "ingest_halted")
	if c["state_reason"] != "access_denied" {
		t.Errorf("halted for %v after the access was removed, want access_denied", c["state_reason"])
	}
	k.grant(t, access)
	e.probe(org)
	e.waitState(org, col, "active")
	if got := e.readDoc(org, col, ids[0]); got != `{"n":1}` {
		t.Fatalf("read back after the access came back: %s", got)
	}

	// All of an organisation's keys are one provider's; another region needs its own key.
	e.wantError(http.StatusUnprocessableEntity, "key_id_required", req{method: "POST", path: "/v1/orgs/" + org + "/regions",
		token: adminToken, body: map[string]any{"region": k.otherRegion}})
}

// cloudConfig serves the provider beside AWS.
func cloudConfig(provider string, set func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.Providers = []string{"aws", provider}
		set(c)
	}
}

// TestGoogleCloud_KeyLife: a Google Cloud KMS key through the official client, end to end.
func TestGoogleCloud_KeyLife(t *testing.T) {
	g := cloudtest.StartGCP(t)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", g.PlatformKeyFile)
	e := setupWith(t, kmstest.StartEmulator(t), fastProbes(time.Hour), cloudConfig("gcp", func(c *config.Config) {
		c.GCPPrincipal, c.GCPKMSEndpoint, c.TLSCAFile, c.GCPRegions = g.Platform, g.Addr, g.CAFile, []string{"us-central1", "us-east1"}
	}))
	key := g.Key(t, "us-central1", "ring", "data")
	var primary string
	k := cloudKey{provider: "gcp", id: key, region: "us-central1", otherRegion: "us-east1",
		grant:   func(t *testing.T, access []byte, drop ...string) { g.SetBindings(t, key, access, drop...) },
		disable: func(t *testing.T) { primary = g.Primary(t, key); g.SetVersionEnabled(t, primary, false) },
		enable:  func(t *testing.T) { g.SetVersionEnabled(t, primary, true) },
		rotate:  func(t *testing.T) { g.Rotate(t, key) },
		revoke:  func(t *testing.T) { g.SetBindings(t, key, []byte(`{"bindings":[]}`)) },
	}
	walkCloudKey(t, e, k)

	// The identifier rules, before anything is stored.
	e.wantRefused("gcp", "us-central1",
		refusedKey{map[string]any{"key_id": key + "/cryptoKeyVersions/1"}, "key_version_not_allowed"},
		refusedKey{map[string]any{"key_arn": key}, "key_arn_not_applicable"},
		refusedKey{map[string]any{"key_id": "projects/acme/keyRings/ring"}, "invalid_key_id"})
	e.wantRefused("gcp", "us-east1", refusedKey{map[string]any{"key_id": key}, "key_region_mismatch"})

	// Destruction scheduled: the probe says so, and the organisation halts.
	doomed := cloudKey{provider: "gcp", id: g.Key(t, "us-central1", "ring2", "doomed"), region: "us-central1"}
	g.SetBindings(t, doomed.id, e.access(doomed))
	org := e.onboard("Doomed", doomed)["id"].(string)
	col := e.collection(org, "events", true)["id"].(string)
	g.ScheduleDestruction(t, g.Primary(t, doomed.id))
	e.probe(org)
	if c := e.waitState(org, col, "ingest_halted"); c["state_reason"] != "key_pending_deletion" {
		t.Errorf("halted for %v, want key_pending_deletion", c["state_reason"])
	}
}

// TestAzure_KeyLife: an Azure Key Vault key through azkeys and azidentity, end to end.
func TestAzure_KeyLife(t *testing.T) {
	a := cloudtest.StartAzure(t)
	a.Env(t)
	e := setupWith(t, kmstest.StartEmulator(t), fastProbes(time.Hour), cloudConfig("azure", func(c *config.Config) {
		c.AzurePrincipal, c.AzureEndpoint, c.TLSCAFile, c.AzureRegions = a.Platform.ObjectID, a.Endpoint, a.CAFile, []string{"eastus", "westeurope"}
	}))
	key := a.Key(t, "data")
	var assignment string
	k := cloudKey{provider: "azure", id: key, region: "eastus", otherRegion: "westeurope",
		grant:   func(t *testing.T, access []byte, _ ...string) { assignment = a.Assign(t, access) },
		disable: func(t *testing.T) { a.SetEnabled(t, "data", false) },
		enable:  func(t *testing.T) { a.SetEnabled(t, "data", true) },
		rotate:  func(t *testing.T) { a.Rotate(t, "data") },
		revoke:  func(t *testing.T) { a.Unassign(t, assignment) },
	}
	walkCloudKey(t, e, k)

	e.wantRefused("azure", "eastus",
		refusedKey{map[string]any{"key_id": key + "/0123456789abcdef0123456789abcdef"}, "key_version_not_allowed"},
		refusedKey{map[string]any{"key_arn": key}, "key_arn_not_applicable"},
		refusedKey{map[string]any{"key_id": "https://example.com/keys/data"}, "invalid_key_id"},
		refusedKey{map[string]any{"provider": "oracle", "key_id": key}, "unsupported_provider"})

	// An expired key halts the organisation as the customer's doing; a later expiry brings it back.
	org1 := e.orgOfKey(key)
	col1 := e.collection(org1, "expiring", true)["id"].(string)
	a.SetExpiry(t, "data", time.Now().Add(-time.Minute))
	e.probe(org1)
	if c := e.waitState(org1, col1, "ingest_halted"); c["state_reason"] != "key_expired" {
		t.Errorf("halted for %v, want key_expired", c["state_reason"])
	}
	a.SetExpiry(t, "data", time.Time{})
	e.probe(org1)
	e.waitState(org1, col1, "active")

	// Soft delete halts the organisation; recovering the key brings it back.
	doomed := cloudKey{provider: "azure", id: a.Key(t, "doomed"), region: "eastus"}
	a.Assign(t, e.access(doomed))
	org := e.onboard("Doomed", doomed)["id"].(string)
	col := e.collection(org, "events", true)["id"].(string)
	a.SoftDelete(t, "doomed")
	e.probe(org)
	if c := e.waitState(org, col, "ingest_halted"); !slices.Contains([]any{"key_pending_deletion", "key_not_found"}, c["state_reason"]) {
		t.Errorf("halted for %v, want key_pending_deletion or key_not_found", c["state_reason"])
	}
	a.Recover(t, "doomed")
	e.probe(org)
	e.waitState(org, col, "active")
}

// orgOfKey is the organisation linked to key.
func (e *env) orgOfKey(key string) string {
	e.t.Helper()
	var org string
	if err := e.db.QueryRow(e.t.Context(), `SELECT org_id FROM key_links WHERE key_arn = $1 LIMIT 1`, key).Scan(&org); err != nil {
		e.t.Fatal(err)
	}
	return org
}
