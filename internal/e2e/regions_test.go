package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

const (
	replicaRegion = "us-west-2"
	thirdRegion   = "eu-west-1"
)

// regionEntry is one region's key-status entry of purpose, or nil.
func (e *env) regionEntry(org, region, purpose string) map[string]any {
	e.t.Helper()
	ks := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/key-status", token: adminToken})
	for _, r := range ks["regions"].([]any) {
		m := r.(map[string]any)
		if m["region"] == region && m["purpose"] == purpose {
			return m
		}
	}
	return nil
}

// TestRegions_ReplicaOfAMultiRegionKey walks replica regions end to end: a multi-region home key,
// its replica missing (the failed check says how to make it), replicated, the region linked; a
// separate single-region key in a third region; collections in each region; the replica disabled
// halts its region only, and enabled again brings it back.
func TestRegions_ReplicaOfAMultiRegionKey(t *testing.T) {
	t.Parallel()
	e := setup(t, fastProbes(6*time.Hour))
	homeKey := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{MultiRegion: true})
	resp := e.createCMEK("Globex", homeKey)
	if resp.Status != http.StatusCreated {
		t.Fatalf("create org: %d %s", resp.Status, resp.Body)
	}
	org := resp.JSON(t)["id"].(string)
	operator := e.token(org, "operator")
	member := e.token(org, "member")
	regionsPath := "/v1/orgs/" + org + "/regions"
	replicaARN := strings.Replace(homeKey, ":"+home+":", ":"+replicaRegion+":", 1)

	// A member may not add a region.
	e.wantError(http.StatusForbidden, "forbidden", req{method: "POST", path: regionsPath, token: member, body: map[string]any{"region": replicaRegion}})

	// The replica does not exist yet: verification fails at describe_key with the command to make it.
	resp = e.wantError(http.StatusUnprocessableEntity, "key_verification_failed",
		req{method: "POST", path: regionsPath, token: operator, body: map[string]any{"region": replicaRegion}})
	body := resp.JSON(t)
	details := body["error"].(map[string]any)["details"].(map[string]any)
	if details["key_arn"] != replicaARN || details["purpose"] != "data" {
		t.Fatalf("details %v, want the derived replica %s", details, replicaARN)
	}
	checks := details["checks"].([]any)
	describe := checks[1].(map[string]any)
	wantCmd := fmt.Sprintf("aws kms replicate-key --key-id %s --replica-region %s", homeKey, replicaRegion)
	if describe["name"] != "describe_key" || describe["code"] != "key_not_found" || !strings.Contains(describe["message"].(string), wantCmd) ||
		!strings.Contains(describe["message"].(string), "same key-policy statement") {
		t.Fatalf("describe_key check %v, want key_not_found with %q", describe, wantCmd)
	}
	if n := e.count(`SELECT count(*) FROM org_regions WHERE org_id = $1`, org); n != 1 {
		t.Fatalf("a failed verification stored %d regions, want the home region only", n)
	}
	if n := e.count(`SELECT count(*) FROM key_links WHERE org_id = $1`, org); n != 1 {
		t.Fatalf("a failed verification stored %d key links, want 1", n)
	}

	// The customer replicates the key with the same policy; the region links.
	e.kms.ReplicateKey(t, homeKey, replicaRegion)
	region := e.must(http.StatusCreated, req{method: "POST", path: regionsPath, token: operator, body: map[string]any{"region": replicaRegion}})
	if region["region"] != replicaRegion || region["home"] != false || region["key_arn"] != replicaARN || region["backup_key_arn"] != "" ||
		region["status"] != "healthy" {
		t.Fatalf("region %v", region)
	}
	e.wantError(http.StatusConflict, "region_already_linked", req{method: "POST", path: regionsPath, token: operator, body: map[string]any{"region": replicaRegion}})
	if n := e.eventCount(org, "region.linked"); n != 1 {
		t.Fatalf("%d region.linked events, want 1", n)
	}

	// A third region with a separate single-region key; a key of another region is refused.
	eu := e.kms.CreateCustomerKey(t, thirdRegion, kmstest.KeyOptions{})
	e.wantError(http.StatusUnprocessableEntity, "key_region_mismatch",
		req{method: "POST", path: regionsPath, token: operator, body: map[string]any{"region": thirdRegion, "key_arn": homeKey}})
	e.wantError(http.StatusUnprocessableEntity, "unsupported_region",
		req{method: "POST", path: regionsPath, token: operator, body: map[string]any{"region": "ap-south-1"}})
	e.must(http.StatusCreated, req{method: "POST", path: regionsPath, token: operator, body: map[string]any{"region": thirdRegion, "key_arn": eu}})

	list := e.must(http.StatusOK, req{method: "GET", path: regionsPath, token: member})["regions"].([]any)
	var names []string
	for _, r := range list {
		names = append(names, r.(map[string]any)["region"].(string))
	}
	if strings.Join(names, ",") != home+","+replicaRegion+","+thirdRegion || list[0].(map[string]any)["home"] != true {
		t.Fatalf("regions %v, want home first, then in the order added", list)
	}
	orgBody := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org, token: member})
	if fmt.Sprint(orgBody["regions"]) != fmt.Sprint([]any{home, replicaRegion, thirdRegion}) {
		t.Fatalf("organisation regions %v", orgBody["regions"])
	}
	got := e.must(http.StatusOK, req{method: "GET", path: regionsPath + "/" + thirdRegion, token: member})
	if got["key_arn"] != eu {
		t.Fatalf("GET region %v", got)
	}
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: regionsPath + "/ap-south-1", token: member})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: regionsPath + "/not%20a%20region", token: member})

	// Collections live in one region each.
	homeCol := e.collection(org, "home docs", true)["id"].(string)
	west := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/collections", token: operator,
		body: map[string]any{"name": "west docs", "region": replicaRegion}})
	if west["region"] != replicaRegion {
		t.Fatalf("collection %v", west)
	}
	westCol := west["id"].(string)
	e.wantError(http.StatusUnprocessableEntity, "region_not_linked", req{method: "POST", path: "/v1/orgs/" + org + "/collections", token: operator,
		body: map[string]any{"name": "nowhere", "region": "ap-south-1"}})
	westDoc := e.ingest(org, westCol, map[string]any{"n": 1})[0]
	e.ingest(org, homeCol, map[string]any{"n": 2})
	// The west collection's data key is wrapped by the replica, the home one's by the home key.
	e.wantCount(1, "data keys of the west collection wrapped by the replica", `SELECT count(*) FROM data_keys d JOIN wrapped_keys w ON w.data_key_id = d.id WHERE d.owner_id = $1 AND w.key_arn = $2`,
		westCol, replicaARN)

	// The customer disables the replica: only its region halts.
	e.disableKey(replicaARN)
	e.waitState(org, westCol, "ingest_halted")
	if c := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + homeCol, token: adminToken}); c["state"] != "active" {
		t.Fatalf("home collection %v, want active while only the replica is disabled", c)
	}
	e.ingest(org, homeCol, map[string]any{"n": 3})
	e.wantError(http.StatusConflict, "collection_ingest_halted", req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + westCol + "/documents",
		token: adminToken, body: map[string]any{"documents": []any{map[string]any{"n": 4}}}})
	if w := e.regionEntry(org, replicaRegion, "data"); w["status"] != "unavailable" {
		t.Fatalf("replica key status %v", w)
	}
	if h := e.regionEntry(org, home, "data"); h["status"] != "healthy" {
		t.Fatalf("home key status %v", h)
	}
	e.wantCount(1, "key.unavailable events of the replica's region", `SELECT count(*) FROM events WHERE org_id = $1 AND type = 'key.unavailable' AND region = $2 AND purpose = 'data'`, org, replicaRegion)

	// Enabled again, the region comes back by itself.
	e.enableKey(replicaARN)
	e.waitState(org, westCol, "active")
	doc := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + westCol + "/documents/" + westDoc, token: adminToken})
	if fmt.Sprint(doc["data"]) != fmt.Sprint(map[string]any{"n": 1.0}) {
		t.Fatalf("document %v", doc)
	}
}

// TestRegions_SingleRegionHomeKeyNeedsAKeyARN: without a multi-region home key, a region names its key.
func TestRegions_SingleRegionHomeKeyNeedsAKeyARN(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, _ := e.cmekOrg("Initech")
	path := "/v1/orgs/" + org + "/regions"
	e.wantError(http.StatusUnprocessableEntity, "key_arn_required", req{method: "POST", path: path, token: adminToken, body: map[string]any{"region": replicaRegion}})
	e.wantError(http.StatusUnprocessableEntity, "alias_not_supported", req{method: "POST", path: path, token: adminToken,
		body: map[string]any{"region": replicaRegion, "key_arn": "arn:aws:kms:us-west-2:111122223333:alias/mine"}})
	e.wantError(http.StatusBadRequest, "unknown_field", req{method: "POST", path: path, token: adminToken,
		body: map[string]any{"region": replicaRegion, "kms_key": "x"}})
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "POST", path: path, token: adminToken, body: map[string]any{}})
	// A key the platform may not use: nothing is stored.
	denied := e.kms.CreateCustomerKey(t, replicaRegion, kmstest.KeyOptions{DefaultPolicy: true})
	e.wantError(http.StatusUnprocessableEntity, "key_verification_failed", req{method: "POST", path: path, token: adminToken,
		body: map[string]any{"region": replicaRegion, "key_arn": denied}})
	e.wantCount(1, "regions stored (the home region only)", `SELECT count(*) FROM org_regions WHERE org_id = $1`, org)
	// The link, once made, is for good: the trigger refuses an update.
	key := e.kms.CreateCustomerKey(t, replicaRegion, kmstest.KeyOptions{})
	e.must(http.StatusCreated, req{method: "POST", path: path, token: adminToken, body: map[string]any{"region": replicaRegion, "key_arn": key}})
	if _, err := e.db.Exec(context.Background(), `UPDATE key_links SET key_arn = $2 WHERE org_id = $1 AND region = $3`, org, denied, replicaRegion); err == nil ||
		!strings.Contains(err.Error(), "immutable") {
		t.Fatalf("updating a region's key link: %v, want the immutability trigger", err)
	}
}

// TestRegions_BackupKeyIsMonitoredButHaltsNothing: a backup key is verified, linked and monitored;
// when it fails, key-status and events show it, and collections stay active.
func TestRegions_BackupKeyIsMonitoredButHaltsNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, fastProbes(6*time.Hour))
	data := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{})
	denied := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{DefaultPolicy: true})
	create := func(name, backup string) response {
		return e.do(req{method: "POST", path: "/v1/orgs", token: adminToken, body: map[string]any{"name": name, "region": home,
			"encryption": map[string]any{"mode": "customer_managed", "key_arn": data, "backup_key_arn": backup}}})
	}
	// A backup key the platform may not use refuses the organisation, naming the backup key.
	resp := create("Umbrella", denied)
	if resp.Status != http.StatusUnprocessableEntity || resp.Code(t) != "key_verification_failed" {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	if d := resp.JSON(t)["error"].(map[string]any)["details"].(map[string]any); d["purpose"] != "backup" || d["key_arn"] != denied {
		t.Fatalf("details %v, want the backup key's", d)
	}
	if resp := create("Umbrella", "arn:aws:kms:us-west-2:111122223333:key/0b7d4d6e-0000-4000-8000-000000000000"); resp.Status != http.StatusUnprocessableEntity ||
		resp.Code(t) != "key_region_mismatch" {
		t.Fatalf("a backup key of another region: %d %s", resp.Status, resp.Body)
	}
	e.wantCount(0, "organisations stored", `SELECT count(*) FROM orgs`)

	backup := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{})
	resp = create("Umbrella", backup)
	if resp.Status != http.StatusCreated {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	o := resp.JSON(t)
	org := o["id"].(string)
	if enc := o["encryption"].(map[string]any); enc["backup_key_arn"] != backup {
		t.Fatalf("encryption %v", enc)
	}
	col := e.collection(org, "docs", true)["id"].(string)
	if b := e.regionEntry(org, home, "backup"); b == nil || b["key_arn"] != backup || b["status"] != "healthy" {
		t.Fatalf("backup key status %v", b)
	}
	e.wantCount(1, "key.verified events of the backup key", `SELECT count(*) FROM events WHERE org_id = $1 AND type = 'key.verified' AND purpose = 'backup' AND reason = $2`, org, backup)

	// The customer disables the backup key: it shows unavailable; the collection stays active.
	e.disableKey(backup)
	eventually(t, 30*time.Second, "the backup key to be found unavailable", func() bool {
		return e.regionEntry(org, home, "backup")["status"] == "unavailable"
	})
	e.wantCount(1, "key.unavailable events of the backup key", `SELECT count(*) FROM events WHERE org_id = $1 AND type = 'key.unavailable' AND purpose = 'backup'`, org)
	// Probes keep running; after several more the collection is still active and ingests.
	since := time.Now()
	eventually(t, 30*time.Second, "two more probes of the data key", func() bool {
		last, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e.regionEntry(org, home, "data")["last_probe_at"]))
		return err == nil && last.After(since.Add(time.Second))
	})
	if c := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken}); c["state"] != "active" {
		t.Fatalf("collection %v, want active while only the backup key fails", c)
	}
	e.ingest(org, col, map[string]any{"ok": true})
	if d := e.regionEntry(org, home, "data"); d["status"] != "healthy" {
		t.Fatalf("data key %v", d)
	}
}

// TestRegions_ProviderManaged: a provider-managed organisation adds a region where the platform has
// a key, and only there.
func TestRegions_ProviderManaged(t *testing.T) {
	t.Parallel()
	kenv := kmstest.StartEmulator(t)
	west := kenv.CreateCustomerKey(t, replicaRegion, kmstest.KeyOptions{})
	e := setupWith(t, kenv, func(c *config.Config) { c.ProviderKeyARN += "," + west })
	org := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs", token: adminToken,
		body: map[string]any{"name": "Hooli", "region": home}})["id"].(string)
	path := "/v1/orgs/" + org + "/regions"
	e.wantError(http.StatusUnprocessableEntity, "unsupported_region", req{method: "POST", path: path, token: adminToken, body: map[string]any{"region": thirdRegion}})
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "POST", path: path, token: adminToken,
		body: map[string]any{"region": replicaRegion, "key_arn": west}})
	r := e.must(http.StatusCreated, req{method: "POST", path: path, token: adminToken, body: map[string]any{"region": replicaRegion}})
	if r["key_arn"] != "" || r["status"] != "healthy" {
		t.Fatalf("region %v: a provider-managed region shows no ARN", r)
	}
	col := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/collections", token: adminToken,
		body: map[string]any{"name": "west", "region": replicaRegion}})["id"].(string)
	e.ingest(org, col, map[string]any{"x": 1})
	if n := e.count(`SELECT count(*) FROM data_keys d JOIN wrapped_keys w ON w.data_key_id = d.id WHERE d.owner_id = $1 AND w.key_arn = $2`, col, west); n != 1 {
		t.Fatalf("%d data keys wrapped by the platform's %s key, want 1", n, replicaRegion)
	}
	ks := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/key-status", token: adminToken})["regions"].([]any)
	if len(ks) != 2 {
		t.Fatalf("key status %v, want both regions", ks)
	}
	for _, k := range ks {
		if _, shown := k.(map[string]any)["key_arn"]; shown {
			t.Fatalf("key status %v shows the platform's key ARN", k)
		}
	}
}
