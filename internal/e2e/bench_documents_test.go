package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/envelope"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// Shape of the workload: batches of docsPerBatch documents of about 1 KiB, drawn from
// docBatches distinct batches; each read collection holds readBatches of them.
const (
	docsPerBatch = 100
	docBatches   = 20
	readBatches  = 50
)

// BenchmarkDocuments measures envelope-encrypted documents through the real server, with
// PostgreSQL and the KMS emulator on loopback, under the default data-key cache TTL (5m) and count
// bound (100,000 documents), one request at a time. Each op is timed beside its floor, the same rows
// written or read with pgx straight to PostgreSQL (no service, HTTP or encryption), alternately in
// the same loop (paired), and reports docs/s, floor-docs/s, ratio and both sides' p50/p99:
//
//   - ingest/{customer,provider}_managed: one POST of 100 documents per op, into a collection made
//     for each run, so the run's first batch pays for GenerateDataKey. Floor: one pgx CopyFrom of the
//     same 100 sealed documents.
//   - read/{customer,provider}_managed: one GET of a page of 100 (limit=100) per op, cycling through
//     the pages of a collection of 5,000 documents. Floor: the page's rows with one pgx select.
//   - read/customer_managed_cold_cache: a page of 100 whose data key this server has never held: a
//     second server ingests it into a fresh collection outside the timer, so every read pays for one
//     KMS Decrypt.
//   - get/{customer,provider}_managed: one GET of a single document per op. Floor: its row by id.
//
// kms_calls/10k_docs counts the requests the emulator receives for documents (those whose
// encryption context names a collection), so the monitor's health probes are not counted. Requests
// go through a plain keep-alive http.Client, not through the harness's do: OpenAPI validation of each
// exchange would cost more than the server. The server runs in this process, so allocs/op and B/op
// are the client's, the server's and the floor's together; PostgreSQL's are not in them.
func BenchmarkDocuments(b *testing.B) {
	calls := &documentKMSCalls{}
	names := 0 // collections made while benchmarking get unique names
	name := func(prefix string) string { names++; return fmt.Sprintf("%s-%d", prefix, names) }
	e := setupWith(b, kmstest.StartEmulatorBehind(b, calls.middleware))
	c := newBenchClient(b, 4)
	batches := benchBatches(b)
	cmekOrg, _ := e.cmekOrg("Acme")
	orgs := []struct{ mode, org string }{
		{"customer_managed", cmekOrg},
		{"provider_managed", e.createOrg("Initech")},
	}

	// Read collections, filled once before anything is timed.
	type readSet struct {
		col     string
		cursors []string // the cursor of each page of docsPerBatch, "" first
		ids     []string
	}
	reads := map[string]readSet{}
	for _, o := range orgs {
		rs := readSet{col: c.collection(b, e.url, o.org, "read")}
		for i := range readBatches {
			rs.ids = append(rs.ids, c.ingest(b, e.url, o.org, rs.col, batches[i%docBatches])...)
		}
		rs.cursors = c.pageCursors(b, e.url, o.org, rs.col, readBatches*docsPerBatch)
		reads[o.mode] = rs
	}
	// Reads are timed on a table whose statistics are current, as autovacuum keeps those of a live
	// table: right after a bulk load, stale statistics can lead the planner to walk the whole table
	// in seq order for one collection's page.
	analyze := func(b *testing.B) {
		if _, err := e.db.Exec(context.Background(), `ANALYZE documents, data_keys`); err != nil {
			b.Fatal(err)
		}
	}

	// The floors write and read the same rows as the server, with pgx straight to PostgreSQL.
	floorCol := c.collection(b, e.url, cmekOrg, name("floor"))
	c.ingest(b, e.url, cmekOrg, floorCol, batches[0])
	floorKey := e.dataKeyOf(floorCol)
	sealed := sealBatches(b, batches, cmekOrg, floorCol)

	b.Run("ingest", func(b *testing.B) {
		for _, o := range orgs {
			b.Run(o.mode, func(b *testing.B) {
				col := c.collection(b, e.url, o.org, name("ingest"))
				url := e.url + docsPath(o.org, col)
				before := calls.n.Load()
				var p paired
				i := 0
				for b.Loop() {
					p.server(func() { c.hit(b, "POST", url, batches[i%docBatches], http.StatusCreated) })
					p.floor(func() { floorInsert(b, e, sealed[i%docBatches], cmekOrg, floorCol, floorKey) })
					i++
				}
				p.report(b, docsPerBatch)
				reportKMS(b, i*docsPerBatch, calls.n.Load()-before)
			})
		}
	})

	b.Run("read", func(b *testing.B) {
		for _, o := range orgs {
			b.Run(o.mode, func(b *testing.B) {
				rs := reads[o.mode]
				urls := make([]string, len(rs.cursors))
				for p, cur := range rs.cursors {
					urls[p] = e.url + docsPath(o.org, rs.col) + "?limit=100&cursor=" + cur
				}
				after := pageStarts(b, e, rs.col)
				analyze(b)
				before := calls.n.Load()
				var p paired
				i := 0
				for b.Loop() {
					p.server(func() { c.hit(b, "GET", urls[i%len(urls)], nil, http.StatusOK) })
					p.floor(func() { floorSelect(b, e, o.org, rs.col, after[i%len(after)]) })
					i++
				}
				p.report(b, docsPerBatch)
				reportKMS(b, i*docsPerBatch, calls.n.Load()-before)
			})
		}
		// The writer is another server on the same database and KMS: the data keys it makes are
		// cached there, never here.
		var writer *env
		b.Run("customer_managed_cold_cache", func(b *testing.B) {
			if writer == nil {
				writer = e.replica()
			}
			// Each op reads the one page of a collection of its own, all ingested before the timer
			// starts, so that the timed loop holds reads only, as the warm reads' does.
			urls := make([]string, b.N)
			cols := make([]string, b.N)
			for i := range urls {
				cols[i] = c.collection(b, e.url, cmekOrg, name("cold"))
				c.ingest(b, writer.url, cmekOrg, cols[i], batches[i%docBatches])
				urls[i] = e.url + docsPath(cmekOrg, cols[i]) + "?limit=100"
			}
			analyze(b)
			before := calls.n.Load()
			var p paired
			b.ResetTimer()
			for i, url := range urls {
				p.server(func() { c.hit(b, "GET", url, nil, http.StatusOK) })
				p.floor(func() { floorSelect(b, e, cmekOrg, cols[i], 0) })
			}
			b.StopTimer()
			p.report(b, docsPerBatch)
			reportKMS(b, b.N*docsPerBatch, calls.n.Load()-before)
		})
	})

	b.Run("get", func(b *testing.B) {
		for _, o := range orgs {
			b.Run(o.mode, func(b *testing.B) {
				rs := reads[o.mode]
				base := e.url + docsPath(o.org, rs.col) + "/"
				analyze(b)
				before := calls.n.Load()
				var p paired
				i := 0
				for b.Loop() {
					id := rs.ids[i%len(rs.ids)]
					p.server(func() { c.hit(b, "GET", base+id, nil, http.StatusOK) })
					p.floor(func() { floorGet(b, e, o.org, rs.col, id) })
					i++
				}
				p.report(b, 1)
				reportKMS(b, i, calls.n.Load()-before)
			})
		}
	})
}

// paired times each op of the server beside the same work done on its floor, alternately, so that
// both see the same machine however busy it is. ns/op is the time of one op and its floor together;
// the figures are docs/s (the server's), floor-docs/s and their ratio, and each side's p50 and p99.
type paired struct{ srv, flr []time.Duration }

func (p *paired) server(op func()) { p.srv = append(p.srv, timed(op)) }
func (p *paired) floor(op func())  { p.flr = append(p.flr, timed(op)) }

func timed(op func()) time.Duration {
	start := time.Now()
	op()
	return time.Since(start)
}

// report reports the pair's figures for ops of docs documents each.
func (p *paired) report(b *testing.B, docs int) {
	rate := func(d []time.Duration) float64 {
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		return float64(len(d)*docs) / sum.Seconds()
	}
	srv, flr := rate(p.srv), rate(p.flr)
	b.ReportMetric(srv, "docs/s")
	b.ReportMetric(flr, "floor-docs/s")
	b.ReportMetric(srv/flr, "ratio")
	b.ReportMetric(ms(percentile(p.srv, 50)), "p50_ms")
	b.ReportMetric(ms(percentile(p.srv, 99)), "p99_ms")
	b.ReportMetric(ms(percentile(p.flr, 50)), "floor_p50_ms")
	b.ReportMetric(ms(percentile(p.flr, 99)), "floor_p99_ms")
}

// floorInsert writes one sealed batch with one pgx CopyFrom, as a transaction of its own: the
// ingest's floor.
func floorInsert(tb testing.TB, e *env, batch []sealedDocument, org, col, dataKeyID string) {
	if err := tryFloorInsert(e, batch, org, col, dataKeyID); err != nil {
		tb.Fatal(err)
	}
}

func tryFloorInsert(e *env, batch []sealedDocument, org, col, dataKeyID string) error {
	now := time.Now()
	n, err := e.db.CopyFrom(context.Background(), pgx.Identifier{"documents"},
		[]string{"id", "org_id", "collection_id", "data_key_id", "aad_version", "nonce", "ciphertext", "created_at"},
		pgx.CopyFromSlice(len(batch), func(j int) ([]any, error) {
			// Every insert needs fresh ids; the bytes are the same sealed documents.
			return []any{domain.NewID("doc"), org, col, dataKeyID, int16(2), batch[j].nonce, batch[j].ciphertext, now}, nil
		}))
	if err != nil || n != int64(len(batch)) {
		return fmt.Errorf("copy: %d rows, %v", n, err)
	}
	return nil
}

// floorSelect reads the page of docsPerBatch (and one more, as the server does) after seq with pgx:
// a page read's floor.
func floorSelect(tb testing.TB, e *env, org, col string, after int64) {
	if err := tryFloorSelect(e, org, col, after); err != nil {
		tb.Fatal(err)
	}
}

func tryFloorSelect(e *env, org, col string, after int64) error {
	rows, err := e.db.Query(context.Background(), `SELECT seq, id, org_id, collection_id, data_key_id, aad_version, nonce, ciphertext, created_at
FROM documents WHERE org_id = $1 AND collection_id = $2 AND seq > $3 ORDER BY collection_id, seq LIMIT $4`, org, col, after, docsPerBatch+1)
	if err != nil {
		return err
	}
	n := 0
	for rows.Next() {
		var d sealedRow
		if err := rows.Scan(&d.seq, &d.id, &d.org, &d.col, &d.dataKey, &d.aad, &d.nonce, &d.ciphertext, &d.at); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil || n == 0 {
		return fmt.Errorf("select: %d rows, %v", n, err)
	}
	return nil
}

// floorGet reads one document's row with pgx: a single get's floor.
func floorGet(tb testing.TB, e *env, org, col, id string) {
	if err := tryFloorGet(e, org, col, id); err != nil {
		tb.Fatal(err)
	}
}

func tryFloorGet(e *env, org, col, id string) error {
	var d sealedRow
	return e.db.QueryRow(context.Background(), `SELECT seq, id, org_id, collection_id, data_key_id, aad_version, nonce, ciphertext, created_at
FROM documents WHERE org_id = $1 AND collection_id = $2 AND id = $3`, org, col, id).
		Scan(&d.seq, &d.id, &d.org, &d.col, &d.dataKey, &d.aad, &d.nonce, &d.ciphertext, &d.at)
}

// sealedRow is a documents row as the floors read it.
type sealedRow struct {
	seq                   int64
	id, org, col, dataKey string
	aad                   int16
	nonce, ciphertext     []byte
	at                    time.Time
}

// reportKMS reports the KMS requests made per 10,000 documents.
func reportKMS(b *testing.B, docs int, kmsCalls int64) {
	b.ReportMetric(float64(kmsCalls)*10_000/float64(docs), "kms_calls/10k_docs")
}

// documentKMSCalls counts the KMS requests made for documents: those whose encryption context names a
// collection. Key verification and the monitor's probes name only the organisation.
type documentKMSCalls struct{ n atomic.Int64 }

func (c *documentKMSCalls) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if bytes.Contains(body, []byte(`"cmekd:collection"`)) {
			c.n.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// dataKeyOf is the id of col's data key (col has one: something was ingested into it).
func (e *env) dataKeyOf(col string) string {
	e.t.Helper()
	var id string
	if err := e.db.QueryRow(context.Background(), `SELECT id FROM data_keys WHERE owner_id = $1`, col).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// pageStarts is the seq after which each page of docsPerBatch documents of col starts.
func pageStarts(tb testing.TB, e *env, col string) []int64 {
	rows, err := e.db.Query(context.Background(), `SELECT seq FROM documents WHERE collection_id = $1 ORDER BY seq`, col)
	if err != nil {
		tb.Fatal(err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		tb.Fatal(err)
	}
	starts := []int64{0}
	for i := docsPerBatch; i < len(seqs); i += docsPerBatch {
		starts = append(starts, seqs[i-1])
	}
	return starts
}

// sealedDocument is a document as the server stores it.
type sealedDocument struct{ nonce, ciphertext []byte }

// sealBatches seals every document of batches under a fresh data key as the server would.
func sealBatches(tb testing.TB, batches [][]byte, org, col string) [][]sealedDocument {
	key := make([]byte, envelope.KeySize)
	_, _ = rand.Read(key)
	out := make([][]sealedDocument, len(batches))
	for i, body := range batches {
		var req struct{ Documents []json.RawMessage }
		if err := json.Unmarshal(body, &req); err != nil {
			tb.Fatal(err)
		}
		for _, d := range req.Documents {
			nonce, ct, err := envelope.Seal(key, envelope.AAD{Label: envelope.DocumentLabel, OrgID: org, OwnerID: col, ItemID: domain.NewID("doc")}, d)
			if err != nil {
				tb.Fatal(err)
			}
			out[i] = append(out[i], sealedDocument{nonce: nonce, ciphertext: ct})
		}
	}
	return out
}

// Vocabulary of the generated documents.
var (
	benchEventTypes = []string{"page_view", "checkout.completed", "invoice.paid", "session.started", "support.ticket_opened", "search.performed"}
	benchPlaces     = []struct {
		country, city string
		lat, lon      float64
	}{
		{"US", "Seattle", 47.6062, -122.3321}, {"DE", "München", 48.1351, 11.582}, {"JP", "東京", 35.6762, 139.6503},
		{"BR", "São Paulo", -23.5505, -46.6333}, {"FR", "Lyon", 45.764, 4.8357}, {"IN", "Bengaluru", 12.9716, 77.5946},
	}
	benchAgents = []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
		"okhttp/4.12.0", "acme-ios/7.3.1 (iPhone15,2; iOS 17.4.1)",
	}
	benchWords = strings.Fields(`the customer asked about the invoice total and a shipping delay; refund requested for order
		package arrived damaged please contact support résumé attached naïve café grüße 注文番号 🙂 thanks again for the quick help
		"quoted" back\slash tab	separated <b>markup</b> & more`)
)

// benchDocument is one event of about 1 KiB as a data platform ingests them: nested objects, arrays
// of varying length, numbers, booleans, nulls, timestamps and free text with escapes and non-ASCII
// characters, every field drawn from r.
func benchDocument(r *mathrand.Rand, i int) []byte {
	place := benchPlaces[r.IntN(len(benchPlaces))]
	items := make([]map[string]any, r.IntN(5))
	for k := range items {
		var discount any
		if r.IntN(3) == 0 {
			discount = float64(r.IntN(50)) / 100
		}
		items[k] = map[string]any{"sku": fmt.Sprintf("SKU-%05d", r.IntN(100000)), "quantity": 1 + r.IntN(9),
			"unit_price": float64(r.IntN(100000)) / 100, "currency": []string{"USD", "EUR", "JPY"}[r.IntN(3)], "discount": discount}
	}
	tags := make([]string, r.IntN(6))
	for k := range tags {
		tags[k] = benchWords[r.IntN(len(benchWords))]
	}
	doc := map[string]any{
		"event_id":       fmt.Sprintf("evt_%016x", r.Uint64()),
		"type":           benchEventTypes[r.IntN(len(benchEventTypes))],
		"occurred_at":    time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Second + time.Duration(r.IntN(1e9))).Format(time.RFC3339Nano),
		"schema_version": 3,
		"user": map[string]any{"id": fmt.Sprintf("usr_%08d", r.IntN(1e8)), "email": fmt.Sprintf("user%d@example.com", r.IntN(1e6)),
			"plan": []string{"free", "team", "enterprise"}[r.IntN(3)], "verified": r.IntN(2) == 0, "locale": []string{"en-US", "de-DE", "ja-JP", "pt-BR"}[r.IntN(4)]},
		"context": map[string]any{"ip": fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256)),
			"user_agent": benchAgents[r.IntN(len(benchAgents))], "referrer": nil,
			"geo": map[string]any{"country": place.country, "city": place.city, "lat": place.lat, "lon": place.lon}},
		"items": items,
		"tags":  tags,
		"metrics": map[string]any{"latency_ms": r.IntN(5000), "score": r.Float64(), "retries": r.IntN(3),
			"big": r.Uint64()},
		"message": "",
	}
	base, err := json.Marshal(doc)
	if err != nil {
		panic(err) // maps of strings, numbers and bools always marshal
	}
	target := 800 + r.IntN(450) // 800–1249 bytes, about 1 KiB on average
	var msg strings.Builder
	for len(base)+msg.Len() < target {
		if msg.Len() > 0 {
			msg.WriteByte(' ')
		}
		msg.WriteString(benchWords[r.IntN(len(benchWords))])
	}
	doc["message"] = msg.String()
	out, _ := json.Marshal(doc)
	return out
}

// benchBatches returns docBatches request bodies of docsPerBatch documents each.
func benchBatches(tb testing.TB) [][]byte {
	r := mathrand.New(mathrand.NewPCG(1, 2))
	out := make([][]byte, docBatches)
	var total int
	for i := range out {
		docs := make([]string, docsPerBatch)
		for k := range docs {
			d := benchDocument(r, i*docsPerBatch+k)
			total += len(d)
			docs[k] = string(d)
		}
		out[i] = rawDocs(docs)
	}
	if mean := total / (docBatches * docsPerBatch); mean < 900 || mean > 1150 {
		tb.Fatalf("documents average %d bytes, want about 1 KiB", mean)
	}
	return out
}

// loadClients is how many clients BenchmarkLoad runs at once.
const loadClients = 16

// BenchmarkLoad puts the real server under loadClients concurrent clients over loopback HTTP
// (keep-alive, one connection each), for ingest (100 documents per request, each client into a
// collection of its own), page reads (100 per page, cycling through a collection of 5,000) and single
// gets, then puts the same number of operations on the floor: the same rows written or read with pgx
// by loadClients goroutines through a pool as large as the server's (pgx's default). The load is
// bounded: each client waits for its answer before it sends again. It reports throughput (docs/s,
// floor-docs/s, ratio) and latency (p50_ms, p99_ms and the floor's).
func BenchmarkLoad(b *testing.B) {
	e := setup(b)
	c := newBenchClient(b, loadClients)
	batches := benchBatches(b)
	org, _ := e.cmekOrg("Load")

	read := c.collection(b, e.url, org, "read")
	var ids []string
	for i := range readBatches {
		ids = append(ids, c.ingest(b, e.url, org, read, batches[i%docBatches])...)
	}
	cursors := c.pageCursors(b, e.url, org, read, readBatches*docsPerBatch)
	after := pageStarts(b, e, read)
	e.exec(`ANALYZE documents, data_keys`)
	cols := make([]string, loadClients)
	for i := range cols {
		cols[i] = c.collection(b, e.url, org, fmt.Sprint("load-", i))
		c.ingest(b, e.url, org, cols[i], batches[0]) // the data key is made outside the timer
	}
	floorKey := e.dataKeyOf(cols[0])
	sealed := sealBatches(b, batches, org, cols[0])

	for _, w := range []struct {
		name        string
		docs        int
		server, flr func(client, i int) error
	}{
		{"ingest", docsPerBatch,
			func(cl, i int) error {
				return c.tryHit("POST", e.url+docsPath(org, cols[cl]), batches[i%docBatches], http.StatusCreated)
			},
			func(cl, i int) error { return tryFloorInsert(e, sealed[i%docBatches], org, cols[0], floorKey) }},
		{"read", docsPerBatch,
			func(cl, i int) error {
				return c.tryHit("GET", e.url+docsPath(org, read)+"?limit=100&cursor="+cursors[i%len(cursors)], nil, http.StatusOK)
			},
			func(cl, i int) error { return tryFloorSelect(e, org, read, after[i%len(after)]) }},
		{"get", 1,
			func(cl, i int) error {
				return c.tryHit("GET", e.url+docsPath(org, read)+"/"+ids[i%len(ids)], nil, http.StatusOK)
			},
			func(cl, i int) error { return tryFloorGet(e, org, read, ids[i%len(ids)]) }},
	} {
		b.Run(w.name, func(b *testing.B) {
			b.ResetTimer()
			srv, srvWall := runLoad(b, b.N, w.server)
			b.StopTimer()
			flr, flrWall := runLoad(b, b.N, w.flr)
			srvRate := float64(b.N*w.docs) / srvWall.Seconds()
			flrRate := float64(b.N*w.docs) / flrWall.Seconds()
			b.ReportMetric(srvRate, "docs/s")
			b.ReportMetric(flrRate, "floor-docs/s")
			b.ReportMetric(srvRate/flrRate, "ratio")
			b.ReportMetric(ms(percentile(srv, 50)), "p50_ms")
			b.ReportMetric(ms(percentile(srv, 99)), "p99_ms")
			b.ReportMetric(ms(percentile(flr, 50)), "floor_p50_ms")
			b.ReportMetric(ms(percentile(flr, 99)), "floor_p99_ms")
		})
	}
}

// runLoad runs n operations from loadClients goroutines, each taking the next operation when its last
// one has answered, and returns every operation's latency and the wall time of all of them.
func runLoad(b *testing.B, n int, op func(client, i int) error) ([]time.Duration, time.Duration) {
	var next atomic.Int64
	lat := make([]time.Duration, n)
	errs := make(chan error, loadClients)
	var wg sync.WaitGroup
	start := time.Now()
	for cl := range loadClients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(cl, i); err != nil {
					errs <- err
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return lat, wall
}

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
	e := setup(b)
	c := newBenchClient(b, 0)
	batches := benchBatches(b)
	org, _ := e.cmekOrg("Scale")
	col := c.collection(b, e.url, org, "big")
	ctx := context.Background()

	started := time.Now()
	c.ingest(b, e.url, org, col, batches[0])
	dataKey := e.dataKeyOf(col)
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
	e.exec(`VACUUM ANALYZE documents, events`)
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
