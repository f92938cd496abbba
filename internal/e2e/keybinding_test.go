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
