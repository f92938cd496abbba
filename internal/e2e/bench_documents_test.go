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
	c := &benchClient{http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
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

	ctx := context.Background()
	// The floors write and read the same rows as the server, with pgx straight to PostgreSQL.
	floorCol := c.collection(b, e.url, cmekOrg, name("floor"))
	c.ingest(b, e.url, cmekOrg, floorCol, batches[0])
	var floorKey string
	if err := e.db.QueryRow(ctx, `SELECT id FROM data_keys WHERE owner_id = $1`, floorCol).Scan(&floorKey); err != nil {
		b.Fatal(err)
	}
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

// benchClient sends requests as the admin over keep-alive connections, without OpenAPI validation.
type benchClient struct{ http *http.Client }

// send makes one request, reads the whole answer and fails unless its status is want.
func (c *benchClient) send(tb testing.TB, method, url string, body []byte, want int) []byte {
	rb, err := c.try(method, url, body, want)
	if err != nil {
		tb.Fatal(err)
	}
	return rb
}

// try is send for a goroutine other than the benchmark's: it returns what went wrong.
func (c *benchClient) try(method, url string, body []byte, want int) ([]byte, error) {
	return c.exchange(method, url, body, want, nil)
}

// hit is send for a timed op, whose answer is read whole and then dropped: it is read into a buffer
// the client reuses, as a client that cares would, so that the benchmark's own garbage does not weigh
// on the server it shares this process with.
func (c *benchClient) hit(tb testing.TB, method, url string, body []byte, want int) {
	buf := answerBuffers.Get().(*[]byte)
	defer answerBuffers.Put(buf)
	if _, err := c.exchange(method, url, body, want, buf); err != nil {
		tb.Fatal(err)
	}
}

// tryHit is hit for a goroutine other than the benchmark's.
func (c *benchClient) tryHit(method, url string, body []byte, want int) error {
	buf := answerBuffers.Get().(*[]byte)
	defer answerBuffers.Put(buf)
	_, err := c.exchange(method, url, body, want, buf)
	return err
}

var answerBuffers = sync.Pool{New: func() any { return new([]byte) }}

// exchange makes one request and reads the whole answer, into *buf when buf is not nil (grown as
// needed), else into a new buffer.
func (c *benchClient) exchange(method, url string, body []byte, want int, buf *[]byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, err
	}
	var rb []byte
	switch {
	case resp.ContentLength > 0 && buf != nil:
		if int64(cap(*buf)) < resp.ContentLength {
			*buf = make([]byte, resp.ContentLength)
		}
		rb = (*buf)[:resp.ContentLength]
		_, err = io.ReadFull(resp.Body, rb)
	case resp.ContentLength > 0: // read into a buffer of the answer's size, as a client that cares would
		rb = make([]byte, resp.ContentLength)
		_, err = io.ReadFull(resp.Body, rb)
	default:
		rb, err = io.ReadAll(resp.Body)
	}
	resp.Body.Close()
	if err != nil || resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d, want %d: %s %v", method, url, resp.StatusCode, want, rb, err)
	}
	return rb, nil
}

// collection creates a collection through base (a server's URL) and returns its id.
func (c *benchClient) collection(tb testing.TB, base, org, name string) string {
	var out struct{ ID string }
	body, _ := json.Marshal(map[string]any{"name": name, "recoverable": true})
	if err := json.Unmarshal(c.send(tb, "POST", base+"/v1/orgs/"+org+"/collections", body, http.StatusCreated), &out); err != nil {
		tb.Fatal(err)
	}
	return out.ID
}

// ingest posts one batch through base and returns the ids.
func (c *benchClient) ingest(tb testing.TB, base, org, col string, batch []byte) []string {
	var out struct{ IDs []string }
	if err := json.Unmarshal(c.send(tb, "POST", base+docsPath(org, col), batch, http.StatusCreated), &out); err != nil {
		tb.Fatal(err)
	}
	return out.IDs
}

// pageCursors walks a collection of want documents in pages of docsPerBatch, checking that each
// page is full of objects, and returns the cursor of every page.
func (c *benchClient) pageCursors(tb testing.TB, base, org, col string, want int) []string {
	cursors := []string{""}
	seen := 0
	for {
		var page struct {
			Documents []struct {
				ID   string
				Data map[string]any
			}
			NextCursor string `json:"next_cursor"`
		}
		url := base + docsPath(org, col) + "?limit=100&cursor=" + cursors[len(cursors)-1]
		if err := json.Unmarshal(c.send(tb, "GET", url, nil, http.StatusOK), &page); err != nil {
			tb.Fatal(err)
		}
		for _, d := range page.Documents {
			if d.Data["event_id"] == nil {
				tb.Fatalf("document %s reads %v", d.ID, d.Data)
			}
		}
		seen += len(page.Documents)
		if page.NextCursor == "" {
			break
		}
		if len(page.Documents) != docsPerBatch {
			tb.Fatalf("a page of %d documents before the last", len(page.Documents))
		}
		cursors = append(cursors, page.NextCursor)
	}
	if seen != want {
		tb.Fatalf("listed %d documents, want %d", seen, want)
	}
	return cursors
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
