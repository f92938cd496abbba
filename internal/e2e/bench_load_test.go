package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

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
	e := setupWith(b, kmstest.StartEmulator(b))
	c := &benchClient{http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadClients}}}
	b.Cleanup(c.http.CloseIdleConnections)
	batches := benchBatches(b)
	org, _ := e.cmekOrg("Load")
	ctx := context.Background()

	read := c.collection(b, e.url, org, "read")
	var ids []string
	for i := range readBatches {
		ids = append(ids, c.ingest(b, e.url, org, read, batches[i%docBatches])...)
	}
	cursors := c.pageCursors(b, e.url, org, read, readBatches*docsPerBatch)
	after := pageStarts(b, e, read)
	if _, err := e.db.Exec(ctx, `ANALYZE documents, data_keys`); err != nil {
		b.Fatal(err)
	}
	cols := make([]string, loadClients)
	for i := range cols {
		cols[i] = c.collection(b, e.url, org, fmt.Sprint("load-", i))
		c.ingest(b, e.url, org, cols[i], batches[0]) // the data key is made outside the timer
	}
	var floorKey string
	if err := e.db.QueryRow(ctx, `SELECT id FROM data_keys WHERE owner_id = $1`, cols[0]).Scan(&floorKey); err != nil {
		b.Fatal(err)
	}
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
