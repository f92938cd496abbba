package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/server"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// setupBackups starts a server whose backups and restores move pageSize documents a step.
func setupBackups(t *testing.T, pageSize int) *env {
	t.Helper()
	kenv := kmstest.StartEmulator(t)
	return startWith(t, testConfig(t, kenv), kenv, nil, func(o *server.Options) { o.BackupPageSize = pageSize })
}

// cmekOrgWithBackupKey creates a customer-managed organisation with a data key and a separate backup
// key, and returns all three.
func (e *env) cmekOrgWithBackupKey(name string) (org, dataKey, backupKey string) {
	e.t.Helper()
	dataKey = e.kms.CreateCustomerKey(e.t, home, kmstest.KeyOptions{})
	backupKey = e.kms.CreateCustomerKey(e.t, home, kmstest.KeyOptions{})
	o := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs", token: adminToken, body: map[string]any{
		"name": name, "region": home,
		"encryption": map[string]any{"mode": "customer_managed", "key_arn": dataKey, "backup_key_arn": backupKey}}})
	return o["id"].(string), dataKey, backupKey
}

func backupsPath(org string) string { return "/v1/orgs/" + org + "/backups" }

// backup takes a backup of a collection as token and returns it.
func (e *env) backup(org, col, token string) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + col + "/backups", token: token})
}

// getBackup reads a backup.
func (e *env) getBackup(org, id string) map[string]any {
	e.t.Helper()
	return e.must(http.StatusOK, req{method: "GET", path: backupsPath(org) + "/" + id, token: adminToken})
}

// restore restores a backup into a new collection and returns it.
func (e *env) restore(org, bak, name string) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, req{method: "POST", path: backupsPath(org) + "/" + bak + "/restore", token: adminToken,
		body: map[string]any{"name": name}})
}

// allDocuments reads every document of a collection in list order, as the JSON text of its data.
func (e *env) allDocuments(org, col string) []string {
	e.t.Helper()
	var out []string
	cursor := ""
	for {
		page := e.must(http.StatusOK, req{method: "GET", path: docsPath(org, col) + "?limit=500&cursor=" + cursor, token: adminToken})
		for _, d := range page["documents"].([]any) {
			b, err := json.Marshal(d.(map[string]any)["data"])
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, string(b))
		}
		if cursor = page["next_cursor"].(string); cursor == "" {
			return out
		}
	}
}

// keyOf is the key-status entry of a purpose in the home region.
func (e *env) keyOf(org, purpose string) map[string]any {
	e.t.Helper()
	ks := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/key-status", token: adminToken})
	for _, r := range ks["regions"].([]any) {
		if m := r.(map[string]any); m["purpose"] == purpose && m["region"] == home {
			return m
		}
	}
	e.t.Fatalf("key status has no %s key: %v", purpose, ks)
	return nil
}

func wantPurpose(t *testing.T, r response, purpose string) {
	t.Helper()
	details := r.JSON(t)["error"].(map[string]any)["details"].(map[string]any)
	if details["purpose"] != purpose {
		t.Fatalf("details %v, want purpose %s", details, purpose)
	}
}

// TestBackups_WalkThroughBothKeys: a backup under a separate backup key lists while the data key is
// revoked, restores every document intact once the data key is back, and a revoked backup key makes
// backups and restores fail with purpose backup while the collections stay active.
func TestBackups_WalkThroughBothKeys(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, dataKey, backupKey := e.cmekOrgWithBackupKey("Acme")
	operator := e.token(org, "operator")
	col := e.collection(org, "events", true)["id"].(string)
	marker := secretMarker(t)
	e.must(http.StatusCreated, req{method: "POST", path: docsPath(org, col), token: operator, raw: rawDocs(variedDocuments(marker))})
	for i := range 3 {
		e.ingest(org, col, map[string]any{"batch": i, "m": marker}, map[string]any{"batch": i, "second": true})
	}
	want := e.allDocuments(org, col)

	b := e.backup(org, col, operator)
	if b["state"] != "complete" || b["key_arn"] != backupKey || b["collection_id"] != col || b["region"] != home ||
		b["documents"] != float64(len(want)) || !strings.HasPrefix(b["id"].(string), "bak_") {
		t.Fatalf("backup %v", b)
	}
	bak := b["id"].(string)

	// The customer revokes the data key: the backup still lists, and key-status says the data key
	// is unavailable.
	e.setPolicy(dataKey, rootOnlyPolicy())
	e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: adminToken})
	if ks := e.keyOf(org, "data"); ks["status"] != "unavailable" {
		t.Fatalf("data key status %v", ks)
	}
	if ks := e.keyOf(org, "backup"); ks["status"] != "healthy" {
		t.Fatalf("backup key status %v", ks)
	}
	list := e.must(http.StatusOK, req{method: "GET", path: backupsPath(org) + "?collection_id=" + col, token: adminToken})
	if got := list["backups"].([]any); len(got) != 1 || got[0].(map[string]any)["id"] != bak || got[0].(map[string]any)["state"] != "complete" {
		t.Fatalf("backups %v", list)
	}
	r := e.wantError(http.StatusConflict, "key_unavailable", req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + col + "/backups", token: operator})
	wantPurpose(t, r, "data")
	r = e.wantError(http.StatusConflict, "key_unavailable", req{method: "POST", path: backupsPath(org) + "/" + bak + "/restore", token: operator,
		body: map[string]any{"name": "too-early"}})
	wantPurpose(t, r, "data")

	// The data key is back: the restore holds every document, in order, intact.
	e.setPolicy(dataKey, e.kms.PlatformPolicy())
	e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: adminToken})
	restored := e.must(http.StatusCreated, req{method: "POST", path: backupsPath(org) + "/" + bak + "/restore", token: operator,
		body: map[string]any{"name": "events-restored"}})
	if restored["region"] != home || restored["state"] != "active" || restored["name"] != "events-restored" {
		t.Fatalf("restored %v", restored)
	}
	newCol := restored["id"].(string)
	got := e.allDocuments(org, newCol)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("restored documents differ:\n got %q\nwant %q", got, want)
	}
	e.wantCount(1, "backup.restored events", `SELECT count(*) FROM events WHERE org_id = $1 AND type = 'backup.restored' AND collection_id = $2 AND region = $3
AND details->>'backup_id' = $4 AND details->>'source_collection_id' = $5`, org, newCol, home, bak, col)
	e.wantCount(1, "backup.created events", `SELECT count(*) FROM events WHERE org_id = $1 AND type = 'backup.created' AND collection_id = $2 AND region = $3
AND details->>'backup_id' = $4`, org, col, home, bak)

	// The customer revokes the backup key: backups and restores fail with purpose backup, and no
	// collection changes state, even once a probe has found the backup key unusable.
	e.setPolicy(backupKey, rootOnlyPolicy())
	r = e.wantError(http.StatusConflict, "key_unavailable", req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + col + "/backups", token: operator})
	wantPurpose(t, r, "backup")
	r = e.wantError(http.StatusConflict, "key_unavailable", req{method: "POST", path: backupsPath(org) + "/" + bak + "/restore", token: operator,
		body: map[string]any{"name": "again"}})
	wantPurpose(t, r, "backup")
	e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: adminToken})
	if ks := e.keyOf(org, "backup"); ks["status"] != "unavailable" {
		t.Fatalf("backup key status %v", ks)
	}
	for _, c := range []string{col, newCol} {
		if got := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + c, token: adminToken}); got["state"] != "active" {
			t.Fatalf("collection %s is %v after the backup key failed", c, got["state"])
		}
	}
	e.ingest(org, col, map[string]any{"still": "writable"})
	e.wantCount(1, "backups (only the first: refused ones leave nothing)", `SELECT count(*) FROM backups WHERE org_id = $1`, org)
	e.wantCount(2, "collections (refused restores leave nothing)", `SELECT count(*) FROM collections WHERE org_id = $1`, org)

	// Nothing secret in the clear: not in the backup's rows, not in the logs.
	e.wantCount(0, "backup documents hold the plaintext", `SELECT count(*) FROM backup_documents WHERE backup_id = $1 AND position(convert_to($2, 'UTF8') in ciphertext) > 0`, bak, marker)
	if strings.Contains(e.logs.String(), marker) {
		t.Fatal("the logs hold a document's plaintext")
	}

	// Deleting the backup writes its event; it is gone.
	e.must(http.StatusNoContent, req{method: "DELETE", path: backupsPath(org) + "/" + bak, token: operator})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: backupsPath(org) + "/" + bak, token: adminToken})
	e.wantCount(1, "backup.deleted events", `SELECT count(*) FROM events WHERE org_id = $1 AND type = 'backup.deleted' AND details->>'backup_id' = $2 AND region = $3`,
		org, bak, home)
	e.wantCount(0, "documents of the deleted backup remain", `SELECT count(*) FROM backup_documents WHERE backup_id = $1`, bak)
}

// TestBackups_LargeCollectionShowsProgressAndHoldsOnlyItsMoment: a backup of 20,000 documents copies
// in the background page by page, shows its progress, and holds exactly the documents committed
// before it began, not those ingested while it ran; its restore holds them all, in order.
func TestBackups_LargeCollectionShowsProgressAndHoldsOnlyItsMoment(t *testing.T) {
	t.Parallel()
	const total, page = 20_000, 100
	e := setupBackups(t, page)
	org, _ := e.cmekOrg("Big")
	col := e.collection(org, "big", true)["id"].(string)
	for i := 0; i < total; i += 1000 {
		docs := make([]any, 1000)
		for j := range docs {
			docs[j] = map[string]any{"n": i + j}
		}
		e.ingest(org, col, docs...)
	}

	b := e.backup(org, col, adminToken)
	bak := b["id"].(string)
	if b["state"] != "running" || b["documents"] != float64(page) {
		t.Fatalf("first answer %v, want running after one page", b)
	}
	// Documents committed after the backup began are not in it.
	late := e.ingest(org, col, map[string]any{"late": 1}, map[string]any{"late": 2})

	var seen []float64
	eventually(t, 2*time.Minute, "the backup to complete", func() bool {
		b = e.getBackup(org, bak)
		n := b["documents"].(float64)
		if len(seen) > 0 && n < seen[len(seen)-1] {
			t.Fatalf("progress went back from %v to %v", seen[len(seen)-1], n)
		}
		seen = append(seen, n)
		return b["state"] == "complete"
	})
	if b["documents"] != float64(total) || b["finished_at"] == nil {
		t.Fatalf("complete backup %v", b)
	}
	progress := 0
	for _, n := range seen {
		if n > page && n < total {
			progress++
		}
	}
	t.Logf("progress seen: %d reads between the first page and the end (of %d)", progress, len(seen))
	if progress == 0 {
		t.Errorf("no read showed progress between the first page and the end: %v", seen)
	}
	e.wantCount(0, "documents ingested after the backup began are in it", `SELECT count(*) FROM backup_documents d JOIN documents o ON o.id = d.doc_id WHERE d.backup_id = $1 AND o.id = ANY($2)`,
		bak, late)

	r := e.restore(org, bak, "big-restored")
	newCol := r["id"].(string)
	got := e.allDocuments(org, newCol)
	if len(got) != total {
		t.Fatalf("restored %d documents, want %d", len(got), total)
	}
	for i, d := range got {
		if d != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("restored document %d is %s", i, d)
		}
	}
}

// TestBackups_RestoreIsAllOrNothing: a restore that fails on its last page (a tampered backup row)
// leaves no collection, no documents and no data keys.
func TestBackups_RestoreIsAllOrNothing(t *testing.T) {
	t.Parallel()
	e := setupBackups(t, 3)
	org, _ := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	for i := range 10 {
		e.ingest(org, col, map[string]any{"n": i})
	}
	bak := e.backup(org, col, adminToken)["id"].(string)
	eventually(t, 30*time.Second, "the backup to complete", func() bool { return e.getBackup(org, bak)["state"] == "complete" })
	e.exec(`UPDATE backup_documents SET ciphertext = ciphertext || '\x00'::bytea
WHERE backup_id = $1 AND seq = (SELECT max(seq) FROM backup_documents WHERE backup_id = $1)`, bak)
	dataKeys := e.count(`SELECT count(*) FROM data_keys WHERE org_id = $1`, org)
	resp := e.do(req{method: "POST", path: backupsPath(org) + "/" + bak + "/restore", token: adminToken, body: map[string]any{"name": "half"}, allow500: true})
	if resp.Status != http.StatusInternalServerError || resp.Code(t) != "document_integrity_failed" {
		t.Fatalf("restore of a tampered backup: %d %s", resp.Status, resp.Body)
	}
	e.wantCount(1, "collections after the failed restore", `SELECT count(*) FROM collections WHERE org_id = $1`, org)
	e.wantCount(10, "documents after the failed restore", `SELECT count(*) FROM documents WHERE org_id = $1`, org)
	if n := e.count(`SELECT count(*) FROM data_keys WHERE org_id = $1`, org); n != dataKeys {
		t.Fatalf("%d data keys after the failed restore, want %d", n, dataKeys)
	}
	e.wantCount(0, "backup.restored events after the failed restore", `SELECT count(*) FROM events WHERE org_id = $1 AND type = 'backup.restored'`, org)
}

// TestBackups_ProviderManagedUsesThePlatformKeyAndShowsNone: a provider-managed organisation's
// backup is wrapped by the platform's key of its region, whose ARN the tenant never sees.
func TestBackups_ProviderManagedUsesThePlatformKeyAndShowsNone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs", token: adminToken,
		body: map[string]any{"name": "Platform", "region": home}})["id"].(string)
	col := e.collection(org, "events", true)["id"].(string)
	e.ingest(org, col, map[string]any{"a": 1}, map[string]any{"b": 2})
	b := e.backup(org, col, adminToken)
	if b["key_arn"] != "" || b["state"] != "complete" || b["documents"] != float64(2) {
		t.Fatalf("backup %v", b)
	}
	r := e.restore(org, b["id"].(string), "copy")
	if got := e.allDocuments(org, r["id"].(string)); strings.Join(got, ",") != `{"a":1},{"b":2}` {
		t.Fatalf("restored %v", got)
	}
	// Backups go with their organisation, their documents and wrapped keys too.
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org, token: adminToken})
	for _, table := range []string{"backups", "backup_runs", "backup_keys", "backup_documents"} {
		column := "backup_id"
		if table == "backups" {
			column = "id"
		}
		if n := e.count(`SELECT count(*) FROM `+table+` WHERE `+column+` = $1`, b["id"]); n != 0 {
			t.Errorf("%d rows of the deleted organisation's backup remain in %s", n, table)
		}
	}
}

// TestBackups_RefusesBadInputAndOtherOrganisations answers every wrong request with its exact status
// and code.
func TestBackups_RefusesBadInputAndOtherOrganisations(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, _ := e.cmekOrg("Acme")
	other, _ := e.cmekOrg("Other")
	member := e.token(org, "member")
	otherOperator := e.token(other, "operator")
	col := e.collection(org, "events", true)["id"].(string)
	e.ingest(org, col, map[string]any{"a": 1})
	bak := e.backup(org, col, adminToken)["id"].(string)
	failed := "bak_0000000000000000"
	e.exec(`INSERT INTO backups (id, org_id, collection_id, region, key_arn, key_purpose, state, created_at)
SELECT $1, org_id, collection_id, region, key_arn, key_purpose, 'failed', created_at FROM backups WHERE id = $2`, failed, bak)
	create := "/v1/orgs/" + org + "/collections/" + col + "/backups"
	restore := backupsPath(org) + "/" + bak + "/restore"
	for _, tc := range []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"member creates", req{method: "POST", path: create, token: member}, 403, "forbidden"},
		{"member deletes", req{method: "DELETE", path: backupsPath(org) + "/" + bak, token: member}, 403, "forbidden"},
		{"member restores", req{method: "POST", path: restore, token: member, body: map[string]any{"name": "x"}}, 403, "forbidden"},
		{"no token", req{method: "GET", path: backupsPath(org)}, 401, "unauthorized"},
		{"create with a body", req{method: "POST", path: create, token: adminToken, body: map[string]any{"full": true}}, 400, "unknown_field"},
		{"create of an unknown collection", req{method: "POST", path: "/v1/orgs/" + org + "/collections/col_0000000000000000/backups", token: adminToken}, 404, "not_found"},
		{"create of a malformed collection id", req{method: "POST", path: "/v1/orgs/" + org + "/collections/nope/backups", token: adminToken}, 404, "not_found"},
		{"malformed backup id", req{method: "GET", path: backupsPath(org) + "/bak-1", token: adminToken}, 404, "not_found"},
		{"unknown backup", req{method: "GET", path: backupsPath(org) + "/bak_1111111111111111", token: adminToken}, 404, "not_found"},
		{"restore of a malformed id", req{method: "POST", path: backupsPath(org) + "/x/restore", token: adminToken, body: map[string]any{"name": "x"}}, 404, "not_found"},
		{"restore with an unknown field", req{method: "POST", path: restore, token: adminToken, body: map[string]any{"name": "x", "region": home}}, 400, "unknown_field"},
		{"restore without a name", req{method: "POST", path: restore, token: adminToken, body: map[string]any{}}, 422, "invalid_request"},
		{"restore without a body", req{method: "POST", path: restore, token: adminToken}, 400, "invalid_json"},
		{"restore as text", req{method: "POST", path: restore, token: adminToken, raw: []byte(`{"name":"x"}`), contentType: "text/plain"}, 415, "unsupported_media_type"},
		{"restore onto a taken name", req{method: "POST", path: restore, token: adminToken, body: map[string]any{"name": "events"}}, 409, "collection_name_taken"},
		{"restore of a failed backup", req{method: "POST", path: backupsPath(org) + "/" + failed + "/restore", token: adminToken, body: map[string]any{"name": "x"}}, 409, "backup_not_complete"},
		{"list of a malformed collection", req{method: "GET", path: backupsPath(org) + "?collection_id=nope", token: adminToken}, 422, "invalid_request"},
		{"list with a bad limit", req{method: "GET", path: backupsPath(org) + "?limit=0", token: adminToken}, 422, "invalid_request"},
		{"list with a forged cursor", req{method: "GET", path: backupsPath(org) + "?cursor=garbage", token: adminToken}, 400, "invalid_cursor"},
		{"another organisation reads", req{method: "GET", path: backupsPath(org) + "/" + bak, token: otherOperator}, 404, "not_found"},
		{"another organisation's backup by its own path", req{method: "GET", path: backupsPath(other) + "/" + bak, token: otherOperator}, 404, "not_found"},
		{"another organisation restores", req{method: "POST", path: backupsPath(other) + "/" + bak + "/restore", token: otherOperator, body: map[string]any{"name": "x"}}, 404, "not_found"},
		{"another organisation deletes", req{method: "DELETE", path: backupsPath(other) + "/" + bak, token: otherOperator}, 404, "not_found"},
		{"another organisation backs up", req{method: "POST", path: "/v1/orgs/" + other + "/collections/" + col + "/backups", token: otherOperator}, 404, "not_found"},
	} {
		resp := e.do(tc.r)
		if resp.Status != tc.status || resp.Code(t) != tc.code {
			t.Errorf("%s: got %d %q, want %d %q: %s", tc.name, resp.Status, resp.Code(t), tc.status, tc.code, resp.Body)
		}
	}
	// The route takes no body, but an empty object is one.
	if b := e.must(http.StatusCreated, req{method: "POST", path: create, token: adminToken, body: map[string]any{}}); b["state"] != "complete" {
		t.Fatalf("backup with an empty body: %v", b)
	}
	if list := e.must(http.StatusOK, req{method: "GET", path: backupsPath(other), token: otherOperator}); len(list["backups"].([]any)) != 0 {
		t.Fatalf("the other organisation lists %v", list)
	}
	// Members read.
	if list := e.must(http.StatusOK, req{method: "GET", path: backupsPath(org) + "?limit=1", token: member}); len(list["backups"].([]any)) != 1 || list["next_cursor"] == "" {
		t.Fatalf("first page %v", list)
	}
	e.wantCount(1, "collections after refused restores", `SELECT count(*) FROM collections WHERE org_id = $1`, org)
}

// TestBackups_ABackupWhoseServerStoppedFails: a server that stops mid-copy fails its backup; one
// killed mid-copy cannot, and its backup fails once its lease runs out, on any replica.
func TestBackups_ABackupWhoseServerStoppedFails(t *testing.T) {
	t.Parallel()
	e := setupBackups(t, 50)
	org, _ := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	for i := 0; i < 5000; i += 1000 {
		docs := make([]any, 1000)
		for j := range docs {
			docs[j] = map[string]any{"n": i + j}
		}
		e.ingest(org, col, docs...)
	}
	bak := e.backup(org, col, adminToken)["id"].(string)
	e.stop()
	var state string
	if err := e.db.QueryRow(context.Background(), `SELECT state FROM backups WHERE id = $1`, bak).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state == "running" {
		t.Fatal("the backup of a stopped server is still running")
	}
	t.Logf("the backup of the stopped server is %s", state)

	stale := "bak_0000000000000000"
	e.exec(`
WITH b AS (
    INSERT INTO backups (id, org_id, collection_id, region, key_arn, key_purpose, state, created_at)
    SELECT $1, org_id, collection_id, region, key_arn, key_purpose, 'running', created_at FROM backups WHERE id = $2
)
INSERT INTO backup_runs (backup_id, documents, lease_owner, lease_until) VALUES ($1, 300, 'a killed replica', now() - interval '1 minute')`,
		stale, bak)
	r := e.replica()
	eventually(t, 10*time.Second, "the stale backup to fail", func() bool { return r.getBackup(org, stale)["state"] == "failed" })
	if b := r.getBackup(org, stale); b["documents"] != float64(300) {
		t.Fatalf("failed backup %v", b)
	}
	r.wantError(http.StatusConflict, "backup_not_complete", req{method: "POST", path: backupsPath(org) + "/" + stale + "/restore", token: adminToken,
		body: map[string]any{"name": "x"}})
}
