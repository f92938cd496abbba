package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/config"
)

// shortDEKCache lets plaintext data keys live for ttl only, so revocation shows within a test.
func shortDEKCache(ttl time.Duration) func(*config.Config) {
	return func(c *config.Config) { c.DEKCacheTTL = ttl }
}

func docsPath(org, col string) string {
	return "/v1/orgs/" + org + "/collections/" + col + "/documents"
}

// ingest posts documents and returns their ids.
func (e *env) ingest(org, col string, docs ...any) []string {
	e.t.Helper()
	out := e.must(http.StatusCreated, req{method: "POST", path: docsPath(org, col), token: adminToken,
		body: map[string]any{"documents": docs}})
	var ids []string
	for _, id := range out["ids"].([]any) {
		ids = append(ids, id.(string))
	}
	if len(ids) != len(docs) {
		e.t.Fatalf("ingest of %d documents answered %d ids", len(docs), len(ids))
	}
	return ids
}

// readDoc reads one document's data as JSON text.
func (e *env) readDoc(org, col, id string) string {
	e.t.Helper()
	resp := e.do(req{method: "GET", path: docsPath(org, col) + "/" + id, token: adminToken})
	if resp.Status != http.StatusOK {
		e.t.Fatalf("read %s: %d %s", id, resp.Status, resp.Body)
	}
	var d struct {
		ID   string          `json:"id"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(resp.Body, &d); err != nil || d.ID != id {
		e.t.Fatalf("read %s: %s", id, resp.Body)
	}
	return string(d.Data)
}

// compact is the JSON text of v as cmekd stores it: compact, keys in the order sent.
func compact(t testing.TB, raw string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// secretMarker is a string that must never reach the database or the logs in the clear.
func secretMarker(t testing.TB) string {
	t.Helper()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "plaintext-" + hex.EncodeToString(b)
}

// variedDocuments are JSON objects of many shapes, each holding marker.
func variedDocuments(marker string) []string {
	return []string{
		`{"marker":"` + marker + `"}`,
		`{"nested":{"deeper":{"deepest":[1,2,{"marker":"` + marker + `"}]}},"empty":{},"list":[]}`,
		`{"unicode":"grüße, 日本語, emoji 🙂","escapes":"tab\tnewline\nquote\"backslash\\","marker":"` + marker + `"}`,
		`{"numbers":[0,-1,3.14159,1e300,12345678901234567890123],"bool":true,"nil":null,"m":"` + marker + `"}`,
		`{"html":"<script>&amp;</script>","slash":"a/b","u2028":"\u2028","m":"` + marker + `"}`,
		`{   "spaced" :  [ 1 , 2 ] ,   "m" : "` + marker + `"   }`,
	}
}

func rawDocs(docs []string) []byte {
	return []byte(`{"documents":[` + strings.Join(docs, ",") + `]}`)
}

// dataKeysOf decrypts, as the platform, every wrapped data key of a collection: tests then look for the
// plaintext where it must not be.
func (e *env) dataKeysOf(org, col, keyARN string) [][]byte {
	e.t.Helper()
	rows, err := e.db.Query(context.Background(), `
SELECT w.key_arn, w.wrapped FROM data_keys k JOIN wrapped_keys w ON w.data_key_id = k.id
WHERE k.org_id = $1 AND k.purpose = 'documents' AND k.owner_id = $2`, org, col)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var arn string
		var wrapped []byte
		if err := rows.Scan(&arn, &wrapped); err != nil {
			e.t.Fatal(err)
		}
		if arn != keyARN {
			e.t.Fatalf("data key wrapped by %s, want %s", arn, keyARN)
		}
		plain, err := e.kms.PlatformClient(e.t).Decrypt(context.Background(), arn, wrapped,
			map[string]string{"cmekd:org": org, "cmekd:collection": col})
		if err != nil {
			e.t.Fatalf("the wrapped data key does not decrypt under its documented encryption context: %v", err)
		}
		out = append(out, plain)
	}
	return out
}

// TestDocuments_RoundTripAndNothingInTheClear ingests varied JSON into a customer-managed and a
// provider-managed organisation, reads every document back as sent, and scans every table and the
// logs for the plaintext of the documents and of the data keys.
func TestDocuments_RoundTripAndNothingInTheClear(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cmekOrg, cmekKey := e.cmekOrg("Acme")
	providerOrg := e.createOrg("Initech")
	marker := secretMarker(t)
	docs := variedDocuments(marker)
	for _, tc := range []struct{ name, org, wrappingKey string }{
		{"customer_managed", cmekOrg, cmekKey},
		{"provider_managed", providerOrg, e.cfg.ProviderKeyARN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = t }()
			col := e.collection(tc.org, "events", true)["id"].(string)
			var ids []string
			for range 3 { // three batches; one data key serves them all
				out := e.must(http.StatusCreated, req{method: "POST", path: docsPath(tc.org, col), token: adminToken, raw: rawDocs(docs)})
				for _, id := range out["ids"].([]any) {
					ids = append(ids, id.(string))
				}
			}
			if len(ids) != 3*len(docs) {
				t.Fatalf("%d ids for %d documents", len(ids), 3*len(docs))
			}
			for i, id := range ids {
				if got, want := e.readDoc(tc.org, col, id), compact(t, docs[i%len(docs)]); got != want {
					t.Errorf("document %d reads %s, want %s", i, got, want)
				}
			}
			// The list pages through every document in ingestion order.
			var listed []string
			cursor := ""
			for {
				page := e.must(http.StatusOK, req{method: "GET", path: docsPath(tc.org, col) + "?limit=4&cursor=" + cursor, token: adminToken})
				for _, d := range page["documents"].([]any) {
					doc := d.(map[string]any)
					listed = append(listed, doc["id"].(string))
					data, _ := json.Marshal(doc["data"])
					if !strings.Contains(string(data), marker) && !strings.Contains(string(data), "spaced") {
						t.Errorf("listed document %v lost its content", doc)
					}
				}
				if cursor = page["next_cursor"].(string); cursor == "" {
					break
				}
			}
			if strings.Join(listed, ",") != strings.Join(ids, ",") {
				t.Fatalf("list order %v, want %v", listed, ids)
			}
			if n := e.count(`SELECT count(*) FROM documents WHERE collection_id = $1`, col); n != len(ids) {
				t.Fatalf("%d rows, want %d", n, len(ids))
			}
			deks := e.dataKeysOf(tc.org, col, tc.wrappingKey)
			if len(deks) != 1 {
				t.Fatalf("%d data keys for three small batches, want 1", len(deks))
			}
			for _, dek := range deks {
				for _, form := range []string{hex.EncodeToString(dek), base64.StdEncoding.EncodeToString(dek)} {
					assertNowhereInDatabase(t, e, form)
					if strings.Contains(e.logs.String(), form) {
						t.Fatal("a plaintext data key is in the logs")
					}
				}
			}
		})
	}
	e.t = t
	for _, needle := range []string{marker, hex.EncodeToString([]byte(marker)), "grüße", "<script>"} {
		assertNowhereInDatabase(t, e, needle)
	}
	if strings.Contains(e.logs.String(), marker) {
		t.Fatal("a document's plaintext is in the logs")
	}
	// The cache and KMS calls show in the metrics.
	resp := e.do(req{method: "GET", path: "/metrics", unvalidated: true})
	for _, m := range []string{"cmekd_dek_cache_hits_total", "cmekd_dek_cache_misses_total", `cmekd_kms_requests_total{operation="GenerateDataKey"`} {
		if !strings.Contains(string(resp.Body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// TestDocuments_RevokedKeyLocksDataAndRestoredKeyUnlocksIt: once the cache TTL has passed, a disabled
// key or a key policy that no longer admits the platform makes every read fail with key_unavailable;
// restoring the key makes every document readable again, intact.
func TestDocuments_RevokedKeyLocksDataAndRestoredKeyUnlocksIt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, reason    string
		revoke, restore func(*env, string)
	}{
		{"disabled", "key_disabled", (*env).disableKey, (*env).enableKey},
		{"policy revoked", "access_denied",
			func(e *env, key string) {
				e.setPolicy(key, rootOnlyPolicy())
			},
			func(e *env, key string) {
				e.setPolicy(key, e.kms.PlatformPolicy())
			}},
		{"scheduled for deletion", "key_pending_deletion",
			func(e *env, key string) {
				e.scheduleDeletion(key)
			},
			func(e *env, key string) {
				e.cancelDeletion(key)
				e.enableKey(key)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, shortDEKCache(time.Second))
			org, key := e.cmekOrg("Acme")
			col := e.collection(org, "events", true)["id"].(string)
			docs := variedDocuments(secretMarker(t))
			out := e.must(http.StatusCreated, req{method: "POST", path: docsPath(org, col), token: adminToken, raw: rawDocs(docs)})
			var ids []string
			for _, id := range out["ids"].([]any) {
				ids = append(ids, id.(string))
			}
			rowsBefore := e.count(`SELECT count(*) FROM documents`)

			tc.revoke(e, key)
			var locked response
			eventually(t, 30*time.Second, "reads to fail once the data key leaves the cache", func() bool {
				locked = e.do(req{method: "GET", path: docsPath(org, col) + "/" + ids[0], token: adminToken})
				return locked.Status != http.StatusOK
			})
			if locked.Status != http.StatusConflict || locked.Code(t) != "key_unavailable" {
				t.Fatalf("read with the key %s: %d %s", tc.name, locked.Status, locked.Body)
			}
			if reason := locked.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["reason"]; reason != tc.reason {
				t.Errorf("details.reason %v, want %s", reason, tc.reason)
			}
			if strings.Contains(string(locked.Body), "marker") {
				t.Fatal("a refused read leaked document content")
			}
			e.wantError(http.StatusConflict, "key_unavailable", req{method: "GET", path: docsPath(org, col), token: adminToken})
			// Ingestion is refused too: by KMS, or by the monitor's halt if it has noticed already.
			resp := e.do(req{method: "POST", path: docsPath(org, col), token: adminToken, raw: rawDocs(docs[:1])})
			if code := resp.Code(t); resp.Status != http.StatusConflict || (code != "key_unavailable" && code != "collection_ingest_halted") {
				t.Fatalf("ingest with the key %s: %d %s", tc.name, resp.Status, resp.Body)
			}
			if n := e.count(`SELECT count(*) FROM documents`); n != rowsBefore {
				t.Fatalf("documents went from %d to %d while the key was unusable", rowsBefore, n)
			}

			tc.restore(e, key)
			eventually(t, 30*time.Second, "reads to succeed after the key is restored", func() bool {
				return e.do(req{method: "GET", path: docsPath(org, col) + "/" + ids[0], token: adminToken}).Status == http.StatusOK
			})
			for i, id := range ids {
				if got, want := e.readDoc(org, col, id), compact(t, docs[i]); got != want {
					t.Errorf("after restoring, document %d reads %s, want %s", i, got, want)
				}
			}
		})
	}
}

// TestDocuments_FrozenKMSIs503 checks a KMS that does not answer: reads past the cache TTL and
// ingestion that needs a new data key answer 503 kms_unreachable with Retry-After, store nothing, and
// work again when KMS does.
func TestDocuments_FrozenKMSIs503(t *testing.T) {
	t.Parallel()
	e := setup(t, shortDEKCache(time.Second), func(c *config.Config) { c.KMSTimeout = 500 * time.Millisecond })
	org, _ := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	fresh := e.collection(org, "fresh", true)["id"].(string)
	docs := variedDocuments(secretMarker(t))
	ids := e.ingest(org, col, map[string]any{"n": 1}, map[string]any{"n": 2})

	e.kms.Freeze()
	var resp response
	eventually(t, 30*time.Second, "reads to need KMS again", func() bool {
		resp = e.do(req{method: "GET", path: docsPath(org, col) + "/" + ids[0], token: adminToken})
		return resp.Status != http.StatusOK
	})
	if resp.Status != http.StatusServiceUnavailable || resp.Code(t) != "kms_unreachable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("read with KMS frozen: %d %s (Retry-After %q)", resp.Status, resp.Body, resp.Header.Get("Retry-After"))
	}
	resp = e.wantError(http.StatusServiceUnavailable, "kms_unreachable", req{method: "POST", path: docsPath(org, fresh), token: adminToken, raw: rawDocs(docs)})
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	e.wantCount(0, "documents stored without a data key", `SELECT count(*) FROM documents WHERE collection_id = $1`, fresh)
	e.wantCount(0, "data keys stored while KMS was frozen", `SELECT count(*) FROM data_keys WHERE owner_id = $1`, fresh)
	e.kms.Unfreeze()
	if got := e.readDoc(org, col, ids[1]); got != `{"n":2}` {
		t.Fatalf("after KMS returned: %s", got)
	}
	e.ingest(org, fresh, map[string]any{"n": 3})
	// A merely unreachable KMS changes no collection's state.
	for _, c := range []string{col, fresh} {
		if s := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + c, token: adminToken})["state"]; s != "active" {
			t.Fatalf("collection %s is %v after a KMS outage", c, s)
		}
	}
}

// TestDocuments_MovedCiphertextDoesNotDecrypt copies one document's ciphertext onto another's row,
// within a collection, across collections and across organisations: the read fails, it never returns
// the other document.
func TestDocuments_MovedCiphertextDoesNotDecrypt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, _ := e.cmekOrg("Acme")
	other := e.createOrg("Initech")
	colA := e.collection(org, "a", true)["id"].(string)
	colB := e.collection(org, "b", true)["id"].(string)
	colO := e.collection(other, "o", true)["id"].(string)
	a := e.ingest(org, colA, map[string]any{"who": "victim-a1"}, map[string]any{"who": "source-a2"})
	b := e.ingest(org, colB, map[string]any{"who": "victim-b"})
	o := e.ingest(other, colO, map[string]any{"who": "victim-o"})

	copyRow := func(from, to string, withKey bool) {
		t.Helper()
		q := `UPDATE documents d SET nonce = s.nonce, ciphertext = s.ciphertext FROM documents s WHERE s.id = $1 AND d.id = $2`
		if withKey {
			q = `UPDATE documents d SET nonce = s.nonce, ciphertext = s.ciphertext, data_key_id = s.data_key_id FROM documents s WHERE s.id = $1 AND d.id = $2`
		}
		e.exec(q, from, to)
	}
	for _, tc := range []struct {
		name, org, col, victim, source string
		withKey                        bool
	}{
		{"same collection", org, colA, a[0], a[1], false},
		{"another collection", org, colB, b[0], a[1], true},
		{"another organisation", other, colO, o[0], a[1], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = t }()
			copyRow(tc.source, tc.victim, tc.withKey)
			resp := e.do(req{method: "GET", path: docsPath(tc.org, tc.col) + "/" + tc.victim, token: adminToken, allow500: true})
			if resp.Status != http.StatusInternalServerError || resp.Code(t) != "document_integrity_failed" {
				t.Fatalf("read of a moved ciphertext: %d %s", resp.Status, resp.Body)
			}
			if strings.Contains(string(resp.Body), "source-a2") {
				t.Fatal("the moved ciphertext decrypted to the other document")
			}
			resp = e.do(req{method: "GET", path: docsPath(tc.org, tc.col), token: adminToken, allow500: true})
			if resp.Status != http.StatusInternalServerError || strings.Contains(string(resp.Body), "source-a2") {
				t.Fatalf("list with a moved ciphertext: %d %s", resp.Status, resp.Body)
			}
		})
	}
	e.t = t
	if got := e.readDoc(org, colA, a[1]); got != `{"who":"source-a2"}` {
		t.Fatalf("the source document reads %s", got)
	}
}

// TestDocuments_LimitsAreRefusedAndStoreNothing sends every request the API refuses and checks the
// status, the code, and that no document or data key was stored.
func TestDocuments_LimitsAreRefusedAndStoreNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, col := e.orgWithCollection()
	object := func(size int) string { return `{"p":"` + strings.Repeat("x", size-8) + `"}` } // exactly size bytes
	many := func(n, size int) []byte {
		items := make([]string, n)
		for i := range items {
			items[i] = object(size)
		}
		return rawDocs(items)
	}
	cases := []struct {
		name        string
		raw         []byte
		contentType string
		status      int
		code        string
	}{
		{"no documents", []byte(`{"documents":[]}`), "", 422, "invalid_request"},
		{"documents missing", []byte(`{}`), "", 422, "invalid_request"},
		{"documents null", []byte(`{"documents":null}`), "", 422, "invalid_request"},
		{"1001 documents", many(1001, 16), "", 422, "invalid_request"},
		{"an array item", []byte(`{"documents":[{"a":1},[1,2]]}`), "", 422, "invalid_request"},
		{"a string item", []byte(`{"documents":["text"]}`), "", 422, "invalid_request"},
		{"a number item", []byte(`{"documents":[42]}`), "", 422, "invalid_request"},
		{"a null item", []byte(`{"documents":[null]}`), "", 422, "invalid_request"},
		{"a document over 256 KiB", rawDocs([]string{`{"a":1}`, object(256<<10 + 1)}), "", 413, "payload_too_large"},
		{"a body over 8 MiB", many(40, 250<<10), "", 413, "payload_too_large"},
		{"documents not an array", []byte(`{"documents":{"a":1}}`), "", 400, "invalid_json"},
		{"malformed JSON", []byte(`{"documents":[{"a":1}`), "", 400, "invalid_json"},
		{"unknown field", []byte(`{"documents":[{"a":1}],"mode":"fast"}`), "", 400, "unknown_field"},
		{"two values", []byte(`{"documents":[{"a":1}]} {}`), "", 400, "invalid_json"},
		{"empty body", []byte(` `), "", 400, "invalid_json"},
		{"wrong content type", []byte(`{"documents":[{"a":1}]}`), "text/plain", 415, "unsupported_media_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = t }()
			e.wantError(tc.status, tc.code, req{method: "POST", path: docsPath(org, col), token: adminToken, raw: tc.raw, contentType: tc.contentType})
		})
	}
	e.t = t
	for _, table := range []string{"documents", "data_keys", "wrapped_keys"} {
		if n := e.count(`SELECT count(*) FROM ` + table); n != 0 {
			t.Fatalf("refused requests stored %d rows in %s", n, table)
		}
	}
	// The limits themselves are accepted: 1000 documents, and a document of exactly 256 KiB.
	ids := e.must(http.StatusCreated, req{method: "POST", path: docsPath(org, col), token: adminToken, raw: many(1000, 64)})["ids"].([]any)
	if len(ids) != 1000 {
		t.Fatalf("%d ids for 1000 documents", len(ids))
	}
	big := e.must(http.StatusCreated, req{method: "POST", path: docsPath(org, col), token: adminToken, raw: rawDocs([]string{object(256 << 10)})})
	if got := e.readDoc(org, col, big["ids"].([]any)[0].(string)); got != object(256<<10) {
		t.Fatalf("the 256 KiB document came back with %d bytes", len(got))
	}
	e.wantCount(1001, "documents stored", `SELECT count(*) FROM documents`)
}

// TestDocuments_StateRefusals: an ingest_halted collection refuses ingestion, and reads only for the
// key (known unusable, its cached data keys are dropped), never for the state; a paused one
// refuses both until it is resumed; every document is there afterwards.
func TestDocuments_StateRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t, fastProbes(3*time.Second))
	org, key := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	ids := e.ingest(org, col, map[string]any{"n": 1}, map[string]any{"n": 2})

	e.disableKey(key)
	e.waitState(org, col, "ingest_halted")
	e.wantError(http.StatusConflict, "collection_ingest_halted", req{method: "POST", path: docsPath(org, col), token: adminToken, body: map[string]any{"documents": []any{map[string]any{"n": 3}}}})
	// Reads of a halted collection are not refused for its state; they fail because the key is known
	// unusable, although the default cache TTL would still hold its data key.
	e.wantError(http.StatusConflict, "key_unavailable", req{method: "GET", path: docsPath(org, col) + "/" + ids[0], token: adminToken})
	e.waitState(org, col, "paused")
	e.wantError(http.StatusConflict, "collection_paused", req{method: "POST", path: docsPath(org, col), token: adminToken, body: map[string]any{"documents": []any{map[string]any{"n": 3}}}})
	e.wantError(http.StatusConflict, "collection_paused", req{method: "GET", path: docsPath(org, col) + "/" + ids[0], token: adminToken})
	e.wantError(http.StatusConflict, "collection_paused", req{method: "GET", path: docsPath(org, col), token: adminToken})

	e.enableKey(key)
	e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + col + "/resume", token: adminToken})
	more := e.ingest(org, col, map[string]any{"n": 3})
	for i, id := range append(ids, more...) {
		if got := e.readDoc(org, col, id); got != fmt.Sprintf(`{"n":%d}`, i+1) {
			t.Fatalf("document %d reads %s after resume", i, got)
		}
	}
	e.wantCount(3, "documents", `SELECT count(*) FROM documents WHERE collection_id = $1`, col)
}

// TestDocuments_IdempotencyKey: a retried ingest with the same key and body answers the first ids and
// stores nothing twice; the same key with another body is refused; keys are per collection.
func TestDocuments_IdempotencyKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, col := e.orgWithCollection()
	other := e.collection(org, "other", true)["id"].(string)
	body := rawDocs([]string{`{"n":1}`, `{"n":2}`})
	h := map[string]string{"Idempotency-Key": "batch-0001"}
	first := e.must(http.StatusCreated, req{method: "POST", path: docsPath(org, col), token: adminToken, raw: body, header: h})
	again := e.must(http.StatusCreated, req{method: "POST", path: docsPath(org, col), token: adminToken, raw: body, header: h})
	if fmt.Sprint(first["ids"]) != fmt.Sprint(again["ids"]) {
		t.Fatalf("retry answered %v, first %v", again["ids"], first["ids"])
	}
	e.wantCount(2, "documents after a retried ingest", `SELECT count(*) FROM documents`)
	e.wantError(http.StatusUnprocessableEntity, "idempotency_key_reused", req{method: "POST", path: docsPath(org, col), token: adminToken,
		raw: rawDocs([]string{`{"n":3}`}), header: h})
	e.must(http.StatusCreated, req{method: "POST", path: docsPath(org, other), token: adminToken, raw: body, header: h})
	e.wantCount(4, "documents", `SELECT count(*) FROM documents`)
}

// TestDocuments_RolesAndIsolation: members read but do not ingest; another organisation's documents,
// and a document asked for under another collection, are 404.
func TestDocuments_RolesAndIsolation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	other := e.createOrg("Initech")
	col := e.collection(org, "events", true)["id"].(string)
	col2 := e.collection(org, "more", true)["id"].(string)
	ids := e.ingest(org, col, map[string]any{"n": 1})
	one := map[string]any{"documents": []any{map[string]any{"n": 2}}}
	for role, status := range map[string]int{"owner": 201, "operator": 201, "member": 403} {
		tok := e.token(org, role)
		if resp := e.do(req{method: "POST", path: docsPath(org, col), token: tok, body: one}); resp.Status != status {
			t.Errorf("%s ingest: %d, want %d", role, resp.Status, status)
		}
		e.must(http.StatusOK, req{method: "GET", path: docsPath(org, col) + "/" + ids[0], token: tok})
		e.must(http.StatusOK, req{method: "GET", path: docsPath(org, col), token: tok})
	}
	outsider := e.token(other, "owner")
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: docsPath(org, col) + "/" + ids[0], token: outsider})
	e.wantError(http.StatusNotFound, "not_found", req{method: "POST", path: docsPath(org, col), token: outsider, body: one})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: docsPath(org, col2) + "/" + ids[0], token: adminToken})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: docsPath(org, col) + "/doc_nosuchdocument00", token: adminToken})
	e.wantError(http.StatusNotFound, "not_found", req{method: "POST", path: docsPath(org, "col_nosuchcollection0"), token: adminToken, body: one})
	e.wantError(http.StatusUnauthorized, "unauthorized", req{method: "GET", path: docsPath(org, col)})

	// Deleting a collection deletes its documents and data keys; deleting the organisation, the rest.
	e.ingest(org, col2, map[string]any{"n": 3})
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken})
	if n := e.count(`SELECT count(*) FROM documents WHERE collection_id = $1`, col) + e.count(`SELECT count(*) FROM data_keys WHERE owner_id = $1`, col); n != 0 {
		t.Fatalf("%d rows of a deleted collection remain", n)
	}
	if n := e.count(`SELECT count(*) FROM documents WHERE collection_id = $1`, col2); n != 1 {
		t.Fatalf("deleting one collection touched another: %d documents left, want 1", n)
	}
	// What is wrong with an ingest's body is answered once its organisation is known to exist, and
	// before its collection is looked for, as on every organisation route.
	bad := []byte(`{"documents": [1]}`)
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "POST", path: docsPath(org, "col_0000000000000000"), token: adminToken, raw: bad})
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org, token: adminToken})
	if n := e.count(`SELECT count(*) FROM documents WHERE org_id = $1`, org) + e.count(`SELECT count(*) FROM data_keys WHERE org_id = $1`, org); n != 0 {
		t.Fatalf("%d document rows of a deleted organisation remain", n)
	}
	for _, body := range [][]byte{bad, []byte(`{"documents": [`), []byte(`{"documents": [{}]}`)} {
		e.wantError(http.StatusNotFound, "not_found", req{method: "POST", path: docsPath(org, col2), token: adminToken, raw: body})
	}
}

// TestDocuments_NewDataKeyAfterCountBound: a data key serves at most CMEKD_DEK_MAX_DOCUMENTS documents;
// the next batch gets a new one, and documents under both read back.
func TestDocuments_NewDataKeyAfterCountBound(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *config.Config) { c.DEKMaxDocuments = 3 })
	org, key := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	ids := e.ingest(org, col, map[string]any{"n": 1}, map[string]any{"n": 2})
	ids = append(ids, e.ingest(org, col, map[string]any{"n": 3})...) // fills the first key
	ids = append(ids, e.ingest(org, col, map[string]any{"n": 4})...) // needs a second
	if deks := e.dataKeysOf(org, col, key); len(deks) != 2 || bytes.Equal(deks[0], deks[1]) {
		t.Fatalf("%d distinct data keys, want 2", len(deks))
	}
	for i, id := range ids {
		if got := e.readDoc(org, col, id); got != fmt.Sprintf(`{"n":%d}`, i+1) {
			t.Fatalf("document %d reads %s", i, got)
		}
	}
}

// TestDocuments_NewDataKeyAfterMaxAge: a data key older than CMEKD_DEK_MAX_AGE wraps no new documents.
func TestDocuments_NewDataKeyAfterMaxAge(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *config.Config) { c.DEKMaxAge = time.Nanosecond })
	org, col := e.orgWithCollection()
	e.ingest(org, col, map[string]any{"n": 1})
	e.ingest(org, col, map[string]any{"n": 2})
	e.wantCount(2, "data keys (one per ingest past the maximum age)", `SELECT count(*) FROM data_keys WHERE owner_id = $1`, col)
}

// TestIdempotencyKey_ExpiresAfter24Hours: a stored answer older than 24 hours no longer replays (the
// retry does the work again), and a server purges such answers when it starts.
func TestIdempotencyKey_ExpiresAfter24Hours(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, col := e.orgWithCollection()
	body := rawDocs([]string{`{"n":1}`})
	h := map[string]string{"Idempotency-Key": "batch-0001"}
	first := e.must(http.StatusCreated, req{method: "POST", path: docsPath(org, col), token: adminToken, raw: body, header: h})
	e.exec(`UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'`)
	again := e.must(http.StatusCreated, req{method: "POST", path: docsPath(org, col), token: adminToken, raw: body, header: h})
	if fmt.Sprint(first["ids"]) == fmt.Sprint(again["ids"]) {
		t.Fatal("a 25-hour-old answer was replayed")
	}
	e.wantCount(2, "documents", `SELECT count(*) FROM documents`)
	e.exec(`UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'`)
	e.replica()
	eventually(t, 30*time.Second, "a starting server to purge expired answers", func() bool {
		return e.count(`SELECT count(*) FROM idempotency_keys`) == 0
	})
}

// TestDocuments_RefusedRequestHaltsWithoutWaitingForTheSchedule: with probes an hour apart, the first
// request KMS refuses for the customer's doing makes the monitor probe the key at once, so the
// collection halts in seconds, not at the next scheduled probe.
func TestDocuments_RefusedRequestHaltsWithoutWaitingForTheSchedule(t *testing.T) {
	t.Parallel()
	e := setup(t, shortDEKCache(time.Second), func(c *config.Config) { c.ProbeInterval = time.Hour })
	org, key := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	ids := e.ingest(org, col, map[string]any{"n": 1})
	// A new organisation's key is probed at once; after that first probe the next is an hour away.
	eventually(t, 30*time.Second, "the first scheduled probe", func() bool {
		next, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e.keyStatus(org)["next_probe_at"]))
		return err == nil && time.Until(next) > 30*time.Minute
	})
	e.disableKey(key)
	eventually(t, 30*time.Second, "a read to be refused once the data key leaves the cache", func() bool {
		return e.do(req{method: "GET", path: docsPath(org, col) + "/" + ids[0], token: adminToken}).Status == http.StatusConflict
	})
	c := e.waitState(org, col, "ingest_halted") // waits 30 s at most: without the refusal, an hour
	if c["state_reason"] != "key_disabled" {
		t.Fatalf("state_reason %v", c["state_reason"])
	}
	// Once the monitor knows the key unavailable, further refusals do not pull probes forward.
	next := e.keyStatus(org)["next_probe_at"]
	e.wantError(http.StatusConflict, "key_unavailable", req{method: "GET", path: docsPath(org, col) + "/" + ids[0], token: adminToken})
	if again := e.keyStatus(org)["next_probe_at"]; again != next {
		t.Fatalf("a refused request moved the next probe of an unavailable key from %v to %v", next, again)
	}
}

// TestDocuments_ConcurrentRetriesStoreOnce: retries racing with the same Idempotency-Key and body all
// get the first answer, and the documents are stored once.
func TestDocuments_ConcurrentRetriesStoreOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, col := e.orgWithCollection()
	body := rawDocs([]string{`{"n":1}`, `{"n":2}`, `{"n":3}`})
	const retries = 8
	answers := make([]string, retries)
	var wg sync.WaitGroup
	for i := range retries {
		wg.Go(func() {
			hr, _ := http.NewRequest("POST", e.url+docsPath(org, col), bytes.NewReader(body))
			hr.Header.Set("Authorization", "Bearer "+adminToken)
			hr.Header.Set("Content-Type", "application/json")
			hr.Header.Set("Idempotency-Key", "racing-batch")
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("retry %d: %d %s", i, resp.StatusCode, b)
			}
			answers[i] = string(b)
		})
	}
	wg.Wait()
	for i, a := range answers {
		if a != answers[0] {
			t.Fatalf("retry %d answered %s, retry 0 %s", i, a, answers[0])
		}
	}
	if n := e.count(`SELECT count(*) FROM documents`); n != 3 {
		t.Fatalf("%d documents after %d racing retries, want 3", n, retries)
	}
}
