package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// fastProbes makes the monitor probe every second and pause after pauseAfter.
func fastProbes(pauseAfter time.Duration) func(*config.Config) {
	return func(c *config.Config) {
		c.ProbeInterval = time.Second
		c.PauseAfter = pauseAfter
	}
}

// slowProbes leaves the monitor's schedule at an hour, so that only key events make cmekd notice.
func slowProbes(c *config.Config) {
	c.ProbeInterval = time.Hour
	c.ProbeIntervalWithEvents = time.Hour
}

// cmekOrg creates a verified customer-managed organisation on a fresh key and returns both.
func (e *env) cmekOrg(name string) (org, key string) {
	e.t.Helper()
	key = e.kms.CreateCustomerKey(e.t, home, kmstest.KeyOptions{})
	resp := e.createCMEK(name, key)
	if resp.Status != http.StatusCreated {
		e.t.Fatalf("create org: %d %s", resp.Status, resp.Body)
	}
	return resp.JSON(e.t)["id"].(string), key
}

func (e *env) collection(org, name string, recoverable bool) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/collections", token: adminToken,
		body: map[string]any{"name": name, "recoverable": recoverable}})
}

// orgWithCollection creates the provider-managed organisation Acme with a recoverable collection,
// events, and returns both.
func (e *env) orgWithCollection() (org, col string) {
	e.t.Helper()
	org = e.createOrg("Acme")
	return org, e.collection(org, "events", true)["id"].(string)
}

// waitState waits until the collection reaches state.
func (e *env) waitState(org, col, state string) map[string]any {
	e.t.Helper()
	var c map[string]any
	eventually(e.t, 30*time.Second, col+" to become "+state, func() bool {
		c = e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken})
		return c["state"] == state
	})
	return c
}

func (e *env) keyStatus(org string) map[string]any {
	e.t.Helper()
	ks := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/key-status", token: adminToken})
	regions := ks["regions"].([]any)
	if len(regions) != 1 {
		e.t.Fatalf("key status %v", ks)
	}
	return regions[0].(map[string]any)
}

func (e *env) eventCount(org, typ string) int {
	e.t.Helper()
	return e.count(`SELECT count(*) FROM events WHERE org_id = $1 AND type = $2`, org, typ)
}

// probedAfter waits until the key of org has been probed after at (whatever the probe found).
func (e *env) probedAfter(org string, at time.Time) {
	e.t.Helper()
	eventually(e.t, 30*time.Second, "a probe after "+at.Format(time.RFC3339Nano), func() bool {
		last, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e.keyStatus(org)["last_probe_at"]))
		return err == nil && last.After(at)
	})
}

// TestHealth_DisableHaltsAndEnableRestores walks active → ingest_halted → active.
func TestHealth_DisableHaltsAndEnableRestores(t *testing.T) {
	t.Parallel()
	e := setup(t, fastProbes(time.Hour))
	org, key := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	e.disableKey(key)
	c := e.waitState(org, col, "ingest_halted")
	if c["state_reason"] != "key_disabled" {
		t.Fatalf("state_reason %v", c["state_reason"])
	}
	ks := e.keyStatus(org)
	if ks["status"] != "unavailable" || ks["unavailable_since"] == nil || ks["last_error"].(map[string]any)["code"] != "key_disabled" {
		t.Fatalf("key status %v", ks)
	}
	if o := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org, token: adminToken}); o["encryption"].(map[string]any)["status"] != "unavailable" {
		t.Fatalf("org encryption %v", o["encryption"])
	}
	// A collection created now starts halted.
	late := e.collection(org, "late", true)
	if late["state"] != "ingest_halted" {
		t.Fatalf("new collection of an unavailable key: %v", late)
	}
	e.enableKey(key)
	e.waitState(org, col, "active")
	e.waitState(org, late["id"].(string), "active")
	ks = e.keyStatus(org)
	if ks["status"] != "healthy" || ks["unavailable_since"] != nil || ks["last_error"] != nil {
		t.Fatalf("key status after enable %v", ks)
	}
	for typ, want := range map[string]int{"key.unavailable": 1, "collection.ingest_halted": 1, "key.restored": 1, "collection.reactivated": 2} {
		if n := e.eventCount(org, typ); n != want {
			t.Errorf("%d %s events, want %d", n, typ, want)
		}
	}
	evs := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/events?type=collection.ingest_halted", token: adminToken})["events"].([]any)
	ev := evs[0].(map[string]any)
	if ev["collection_id"] != col || ev["from_state"] != "active" || ev["to_state"] != "ingest_halted" || ev["reason"] != "key_disabled" || ev["actor"] != "monitor" {
		t.Fatalf("event %v", ev)
	}
}

// TestHealth_RevokedPolicyPausesAndNeedsResume walks active → halted → paused, stays paused when the
// key returns, and comes back only through resume.
func TestHealth_RevokedPolicyPausesAndNeedsResume(t *testing.T) {
	t.Parallel()
	e := setup(t, fastProbes(2*time.Second))
	org, key := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	fragile := e.collection(org, "stream", false)["id"].(string)
	operator := e.token(org, "operator")
	member := e.token(org, "member")
	good := e.policyFor(key)
	revoked := e.policyFor(key)
	revoked["Statement"] = revoked["Statement"].([]any)[:1] // only the owner's statement remains
	e.putPolicy(key, revoked)

	e.waitState(org, col, "ingest_halted")
	// A probe that was under way when the policy changed may have passed DescribeKey and been refused
	// GenerateDataKey; the next one is refused at its first call.
	eventually(t, 10*time.Second, "the key status to name the refused DescribeKey", func() bool {
		ks := e.keyStatus(org)
		le, _ := ks["last_error"].(map[string]any)
		return le["code"] == "access_denied" && le["action"] == "kms:DescribeKey"
	})
	e.waitState(org, col, "paused")
	e.waitState(org, fragile, "paused")
	e.wantError(http.StatusConflict, "key_unavailable", req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + col + "/resume", token: operator})

	e.putPolicy(key, good)
	eventually(t, 30*time.Second, "the key to be healthy again", func() bool { return e.keyStatus(org)["status"] == "healthy" })
	if c := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken}); c["state"] != "paused" {
		t.Fatalf("a paused collection came back without resume: %v", c)
	}
	e.wantError(http.StatusForbidden, "forbidden", req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + col + "/resume", token: member})
	e.wantError(http.StatusConflict, "collection_unrecoverable", req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + fragile + "/resume", token: operator})
	resumed := e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + col + "/resume", token: operator})
	if resumed["state"] != "active" || resumed["state_reason"] != "" {
		t.Fatalf("resumed %v", resumed)
	}
	e.wantError(http.StatusConflict, "collection_not_paused", req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + col + "/resume", token: operator})
	for typ, want := range map[string]int{"collection.paused": 2, "collection.resumed": 1, "key.unavailable": 1, "key.restored": 1} {
		if n := e.eventCount(org, typ); n != want {
			t.Errorf("%d %s events, want %d", n, typ, want)
		}
	}
}

// TestHealth_TransientFailuresChangeNothing: a KMS that does not answer, past the pause threshold,
// moves no collection and keeps unavailable_since.
func TestHealth_TransientFailuresChangeNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, fastProbes(2*time.Second))
	org, key := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	started := time.Now()
	e.kms.Freeze()
	// Wait for probes that failed after the pause threshold had passed.
	e.probedAfter(org, started.Add(3*time.Second))
	if c := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken}); c["state"] != "active" {
		t.Fatalf("a frozen KMS changed the collection: %v", c)
	}
	// The outage is recorded once, not once per probe.
	if n := e.eventCount(org, "key.probe_error"); n != 1 {
		t.Fatalf("%d key.probe_error events for one outage, want 1", n)
	}
	ks := e.keyStatus(org)
	if ks["status"] != "healthy" || ks["last_error"].(map[string]any)["code"] != "kms_unavailable" {
		t.Fatalf("key status while KMS is frozen: %v", ks)
	}
	e.kms.Unfreeze()

	// Now the key is really unavailable; a frozen KMS must neither pause nor reset unavailable_since.
	e.disableKey(key)
	e.waitState(org, col, "ingest_halted")
	since := e.keyStatus(org)["unavailable_since"]
	frozenAt := time.Now()
	e.kms.Freeze()
	e.probedAfter(org, frozenAt.Add(3*time.Second))
	if c := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken}); c["state"] != "ingest_halted" {
		t.Fatalf("a frozen KMS paused the collection: %v", c)
	}
	if ks := e.keyStatus(org); ks["unavailable_since"] != since || ks["status"] != "unavailable" {
		t.Fatalf("a frozen KMS changed the key status: %v (since %v)", ks, since)
	}
	e.kms.Unfreeze()
	// Once KMS answers again, the key has been unavailable past the threshold: paused.
	e.waitState(org, col, "paused")
}

// TestHealth_TwoReplicasMakeOneSetOfTransitions runs two servers on one database.
func TestHealth_TwoReplicasMakeOneSetOfTransitions(t *testing.T) {
	t.Parallel()
	e := setup(t, fastProbes(time.Hour))
	second := e.replica(fastProbes(time.Hour))
	ctx := context.Background()
	org, key := e.cmekOrg("Acme")
	var cols []string
	for _, n := range []string{"a", "b", "c"} {
		cols = append(cols, e.collection(org, n, true)["id"].(string))
	}
	e.disableKey(key)
	for _, c := range cols {
		second.waitState(org, c, "ingest_halted")
	}
	// Let both replicas probe the unavailable key a few more times.
	probed := e.count(`SELECT count(*) FROM events WHERE org_id = $1`, org)
	eventually(t, 30*time.Second, "more probes", func() bool {
		var last time.Time
		_ = e.db.QueryRow(ctx, `SELECT last_probe_at FROM key_health WHERE org_id = $1`, org).Scan(&last)
		return time.Since(last) < time.Second && e.count(`SELECT count(*) FROM events WHERE org_id = $1`, org) == probed
	})
	e.enableKey(key)
	for _, c := range cols {
		e.waitState(org, c, "active")
	}
	for typ, want := range map[string]int{"key.unavailable": 1, "collection.ingest_halted": 3, "key.restored": 1, "collection.reactivated": 3} {
		if n := e.eventCount(org, typ); n != want {
			t.Errorf("%d %s events, want %d", n, typ, want)
		}
	}
}

func TestCollections_CRUDAndRoles(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	member, operator := e.token(org, "member"), e.token(org, "operator")
	e.wantError(http.StatusForbidden, "forbidden", req{method: "POST", path: "/v1/orgs/" + org + "/collections", token: member, body: map[string]any{"name": "x"}})
	c := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/collections", token: operator, body: map[string]any{"name": "events"}})
	if c["state"] != "active" || c["recoverable"] != true || c["region"] != "us-west-2" || c["state_reason"] != "" {
		t.Fatalf("collection %v", c)
	}
	id := c["id"].(string)
	e.wantError(http.StatusConflict, "collection_name_taken", req{method: "POST", path: "/v1/orgs/" + org + "/collections", token: operator, body: map[string]any{"name": "events"}})
	list := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections", token: member})
	if len(list["collections"].([]any)) != 1 {
		t.Fatalf("list %v", list)
	}
	e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + id, token: member})
	e.wantError(http.StatusConflict, "collection_not_paused", req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + id + "/resume", token: operator})
	// A provider-managed organisation's region shows the platform key's status, and nothing else of it.
	if ks := e.keyStatus(org); ks["status"] != "healthy" || ks["key_arn"] != nil {
		t.Fatalf("a provider-managed organisation has key status %v", ks)
	}
	e.wantError(http.StatusForbidden, "forbidden", req{method: "DELETE", path: "/v1/orgs/" + org + "/collections/" + id, token: member})
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org + "/collections/" + id, token: operator})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + id, token: member})
	other := e.createOrg("Other")
	otherCol := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + other + "/collections", token: adminToken, body: map[string]any{"name": "theirs"}})["id"].(string)
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + otherCol, token: adminToken})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: "/v1/orgs/" + other + "/collections/" + otherCol, token: operator})
	for typ, want := range map[string]int{"collection.created": 1, "collection.deleted": 1} {
		if n := e.eventCount(org, typ); n != want {
			t.Errorf("%d %s events, want %d", n, typ, want)
		}
	}
}

func TestKeyStatus_ProbeNow(t *testing.T) {
	t.Parallel()
	e := setup(t) // the monitor's interval is a minute: only probe-now notices the change
	org, key := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	operator, member := e.token(org, "operator"), e.token(org, "member")
	e.scheduleDeletion(key)
	e.wantError(http.StatusForbidden, "forbidden", req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: member})
	ks := e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: operator})
	r := ks["regions"].([]any)[0].(map[string]any)
	if r["status"] != "unavailable" || r["last_error"].(map[string]any)["code"] != "key_pending_deletion" || r["key_arn"] != key {
		t.Fatalf("probe now: %v", r)
	}
	if c := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: member}); c["state"] != "ingest_halted" {
		t.Fatalf("collection %v", c)
	}
	e.cancelDeletion(key)
	// CancelKeyDeletion leaves the key disabled: still unavailable, now for another reason.
	ks = e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: operator})
	if r := ks["regions"].([]any)[0].(map[string]any); r["last_error"].(map[string]any)["code"] != "key_disabled" {
		t.Fatalf("after cancel: %v", r)
	}
	e.enableKey(key)
	e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: operator})
	if c := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: member}); c["state"] != "active" {
		t.Fatalf("collection %v", c)
	}
}
