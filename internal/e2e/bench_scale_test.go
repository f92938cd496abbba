package e2e_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// scaleRows is how many documents, and how many events, BenchmarkScale seeds.
const scaleRows = 1_000_000

// BenchmarkScale shows that reads cost the same however far into a large table they go. Its body,
// which seeds the database, runs once per benchmark binary (a benchmark with sub-benchmarks runs its
// body once); the seeding is SQL inside PostgreSQL (INSERT … SELECT generate_series), a few seconds:
//
//   - documents/{first,last}_page: GET a page of 100 of a collection of 1,000,000 documents, the first
//     page and the last one (its cursor names a seq a million rows in). The first and last 100
//     documents are ingested through the server, so they decrypt; the 999,800 between them are rows
//     of filler ciphertext that no timed read touches. Each op is paired with the page's floor, the
//     same rows selected with pgx.
//   - events_by_type/{first,deep}_page: GET …/events?type=… (a page of 20) over an organisation's
//     1,000,000 events of ten types, the newest page and one 900,000 events back.
//
// Flat means the last page's p50 is within noise of the first's (docs/s, p50_ms side by side).
func BenchmarkScale(b *testing.B) {
	e := setupWith(b, kmstest.StartEmulator(b))
	c := &benchClient{http: &http.Client{Transport: &http.Transport{}}}
	b.Cleanup(c.http.CloseIdleConnections)
	batches := benchBatches(b)
	org, _ := e.cmekOrg("Scale")
	col := c.collection(b, e.url, org, "big")
	ctx := context.Background()

	started := time.Now()
	c.ingest(b, e.url, org, col, batches[0])
	var dataKey string
	if err := e.db.QueryRow(ctx, `SELECT id FROM data_keys WHERE owner_id = $1`, col).Scan(&dataKey); err != nil {
		b.Fatal(err)
	}
	// The two tables are seeded at once, on two connections. Foreign keys are not checked for the
	// filler (session_replication_role), which every row would satisfy: the collection and its data
	// key exist.
	seed := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO documents (id, org_id, collection_id, data_key_id, aad_version, nonce, ciphertext, created_at)
SELECT 'doc_filler' || i, $1, $2, $3, 2, '\x000000000000000000000000'::bytea, convert_to(repeat('x', 100), 'UTF8'), now()
FROM generate_series(1, $4::int) i`, []any{org, col, dataKey, scaleRows - 2*docsPerBatch}},
		{`INSERT INTO events (id, org_id, type, at, actor)
SELECT 'evt_filler' || i, $1, (ARRAY['org.renamed', 'key.verified', 'key.probe_error', 'collection.created', 'collection.deleted',
    'token.created', 'token.revoked', 'workspace.created', 'workspace.deleted', 'secret_scope.created'])[1 + i % 10],
    now() - make_interval(secs => $2::int - i), 'admin'
FROM generate_series(1, $2::int) i`, []any{org, scaleRows}},
	}
	errs := make(chan error, len(seed))
	for _, s := range seed {
		go func() {
			conn, err := e.db.Acquire(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Release()
			_, err = conn.Exec(ctx, `SET session_replication_role = replica`)
			if err == nil {
				_, err = conn.Exec(ctx, s.sql, s.args...)
			}
			if _, reset := conn.Exec(ctx, `SET session_replication_role = DEFAULT`); err == nil {
				err = reset
			}
			errs <- err
		}()
	}
	for range seed {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	c.ingest(b, e.url, org, col, batches[1])
	if _, err := e.db.Exec(ctx, `VACUUM ANALYZE documents, events`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d documents and %d events in %s", scaleRows, scaleRows, time.Since(started).Round(time.Millisecond))

	var lastStart int64 // the seq after which the last page starts
	if err := e.db.QueryRow(ctx, `SELECT seq FROM documents WHERE collection_id = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1`,
		col, docsPerBatch).Scan(&lastStart); err != nil {
		b.Fatal(err)
	}
	var deepEvent int64 // the seq before which the deep events page starts
	if err := e.db.QueryRow(ctx, `SELECT seq FROM events WHERE org_id = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1`,
		org, scaleRows*9/10).Scan(&deepEvent); err != nil {
		b.Fatal(err)
	}

	for _, p := range []struct {
		name  string
		after int64
	}{{"first_page", 0}, {"last_page", lastStart}} {
		b.Run("documents/"+p.name, func(b *testing.B) {
			url := e.url + docsPath(org, col) + "?limit=100&cursor=" + seqCursor(p.after)
			if p.after == 0 {
				url = e.url + docsPath(org, col) + "?limit=100"
			}
			var pr paired
			for b.Loop() {
				pr.server(func() { c.hit(b, "GET", url, nil, http.StatusOK) })
				pr.floor(func() { floorSelect(b, e, org, col, p.after) })
			}
			pr.report(b, docsPerBatch)
		})
	}
	for _, p := range []struct {
		name   string
		before int64
	}{{"first_page", 0}, {"deep_page", deepEvent}} {
		b.Run("events_by_type/"+p.name, func(b *testing.B) {
			url := e.url + "/v1/orgs/" + org + "/events?type=key.probe_error&limit=20"
			if p.before != 0 {
				url += "&cursor=" + seqCursor(p.before)
			}
			var took []time.Duration
			for b.Loop() {
				took = append(took, timed(func() { c.hit(b, "GET", url, nil, http.StatusOK) }))
			}
			b.ReportMetric(ms(percentile(took, 50)), "p50_ms")
			b.ReportMetric(ms(percentile(took, 99)), "p99_ms")
		})
	}
}

// seqCursor is the cursor of a list ordered by seq that continues after (or before) seq: the
// server's own encoding, base64url of {"s":seq}.
func seqCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"s":%d}`, seq))
}
