package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/envelope"
	"github.com/cmekd/cmekd/internal/keyring"
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

// TestDocuments_ForgedRowUnderAnotherPlatformKeyNeverReads inserts, behind the API, documents of a
// customer-managed organisation's collection sealed under a data key the provider key wraps (a key
// the platform may use, with the right encryption context): in either AAD version they answer 500
// document_integrity_failed, never 200, before and after the organisation's key is disabled (a data key not wrapped by the linked key is never used).
func TestDocuments_ForgedRowUnderAnotherPlatformKeyNeverReads(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	org, key := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	genuine := e.ingest(org, col, map[string]any{"who": "genuine"})[0]

	provider := e.cfg.ProviderKeyARN
	plain, wrapped, err := e.kms.PlatformClient(t).GenerateDataKey(ctx, provider, map[string]string{"cmekd:org": org, "cmekd:collection": col})
	if err != nil {
		t.Fatal(err)
	}
	dek := domain.NewID("dek")
	now := time.Now().UTC()
	e.exec(`INSERT INTO data_keys (id, org_id, purpose, owner_id, uses, created_at) VALUES ($1, $2, 'documents', $3, 2, $4)`, dek, org, col, now)
	e.exec(`INSERT INTO wrapped_keys (data_key_id, key_arn, wrapped, created_at) VALUES ($1, $2, $3, $4)`, dek, provider, wrapped, now)
	forged := map[int]string{}
	for _, v := range []struct {
		version int
		aad     envelope.AAD
	}{
		{keyring.AADv1, envelope.AAD{Label: envelope.DocumentLabel}},
		{keyring.AADv2, envelope.AAD{Label: envelope.DocumentLabelV2, KeyARN: provider}},
	} {
		id := domain.NewID("doc")
		aad := v.aad
		aad.OrgID, aad.OwnerID, aad.ItemID = org, col, id
		nonce, ct, err := envelope.Seal(plain, aad, []byte(`{"who":"forged"}`))
		if err != nil {
			t.Fatal(err)
		}
		e.exec(`INSERT INTO documents (id, org_id, collection_id, data_key_id, aad_version, nonce, ciphertext, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, org, col, dek, v.version, nonce, ct, now)
		forged[v.version] = id
	}
	envelope.Wipe(plain)

	refused := func(when string) {
		t.Helper()
		for version, id := range forged {
			resp := e.do(req{method: "GET", path: docsPath(org, col) + "/" + id, token: adminToken, allow500: true})
			if resp.Status != http.StatusInternalServerError || resp.Code(t) != "document_integrity_failed" {
				t.Fatalf("%s: read of a forged version %d row: %d %s", when, version, resp.Status, resp.Body)
			}
		}
		resp := e.do(req{method: "GET", path: docsPath(org, col), token: adminToken, allow500: true})
		if resp.Status == http.StatusOK || strings.Contains(string(resp.Body), "forged") {
			t.Fatalf("%s: list with forged rows: %d %s", when, resp.Status, resp.Body)
		}
	}
	refused("key enabled")
	if got := e.readDoc(org, col, genuine); got != `{"who":"genuine"}` {
		t.Fatalf("the genuine document reads %s", got)
	}

	e.disableKey(key)
	e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: adminToken})
	refused("key disabled")
	e.wantError(http.StatusConflict, "key_unavailable", req{method: "GET", path: docsPath(org, col) + "/" + genuine, token: adminToken})
}
