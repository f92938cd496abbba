package e2e_test

import (
	"net/http"
	"testing"
	"time"
)

// TestDocuments_KnownUnusableKeyFailsReadsOnEveryReplicaAtOnce disables a key whose data keys both
// replicas have cached for five minutes: once a probe on one replica finds the key unusable, reads on
// that replica fail at once and on the other within two seconds, not when the cache's TTL
// runs out; once the key is back and probed, reads work again on both.
func TestDocuments_KnownUnusableKeyFailsReadsOnEveryReplicaAtOnce(t *testing.T) {
	t.Parallel()
	a := setup(t, shortDEKCache(5*time.Minute)) // the monitor's interval is a minute: only probe-now notices
	b := a.replica()
	org, key := a.cmekOrg("Acme")
	col := a.collection(org, "events", true)["id"].(string)
	id := a.ingest(org, col, map[string]any{"n": 1})[0]
	read := func(e *env) response {
		return e.do(req{method: "GET", path: docsPath(org, col) + "/" + id, token: adminToken})
	}
	a.readDoc(org, col, id)
	b.readDoc(org, col, id) // both replicas now hold the data key

	a.disableKey(key)
	// Nothing has told cmekd yet: the cached data key still serves (the data-key cache's TTL bound).
	if r := read(b); r.Status != http.StatusOK {
		t.Fatalf("read before any probe: %d %s", r.Status, r.Body)
	}
	probe := req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: adminToken}
	if ks := a.must(http.StatusOK, probe)["regions"].([]any)[0].(map[string]any); ks["status"] != "unavailable" {
		t.Fatalf("probe of the disabled key: %v", ks)
	}
	known := time.Now()
	if r := read(a); r.Status != http.StatusConflict || r.Code(t) != "key_unavailable" {
		t.Fatalf("read on the probing replica right after the probe: %d %s", r.Status, r.Body)
	}
	var onB response
	eventually(t, 2*time.Second, "reads on the other replica to fail", func() bool {
		onB = read(b)
		return onB.Status != http.StatusOK
	})
	if onB.Status != http.StatusConflict || onB.Code(t) != "key_unavailable" {
		t.Fatalf("read on the other replica: %d %s", onB.Status, onB.Body)
	}
	t.Logf("the other replica refused reads %v after the probe", time.Since(known).Round(time.Millisecond))
	b.wantError(http.StatusConflict, "key_unavailable", req{method: "GET", path: docsPath(org, col), token: adminToken})

	a.enableKey(key)
	a.must(http.StatusOK, probe)
	for _, e := range []*env{a, b} {
		if got := e.readDoc(org, col, id); got != `{"n":1}` {
			t.Fatalf("after the key is back, the document reads %s", got)
		}
	}
}
