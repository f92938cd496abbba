package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/webhooks"
)

// benchBatch is how many events one iteration of BenchmarkWebhookDelivery writes at once.
const benchBatch = 1000

// BenchmarkWebhookDelivery measures how many events per second the dispatcher delivers to one endpoint
// on a local receiver that answers 204 at once: 1000 events are written to the audit trail in one
// statement, and the iteration ends when the receiver has them all. One endpoint's events go one at a
// time, in audit order, each followed by its record (the attempt and the cursor, one transaction). The
// floors are the same signed POSTs sent one after another to the same receiver without the database,
// and one durable commit after another without HTTP: a delivery costs one of each.
func BenchmarkWebhookDelivery(b *testing.B) {
	e := setup(b)
	var got atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(rcv.Close)
	org := e.createOrg("Bench")
	e.webhook(org, rcv.URL+"/hook", "*")
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		want := got.Load() + benchBatch
		e.exec(`
INSERT INTO events (id, org_id, type, at, actor)
SELECT 'evt_' || substr(md5(random()::text), 1, 16), $1, 'collection.created', now(), 'bench'
FROM generate_series(1, $2)`, org, benchBatch)
		for got.Load() < want {
			time.Sleep(time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/elapsed.Seconds(), "events/s")

	// The floor: the same POSTs, signed, one after another, with no database.
	client := &http.Client{}
	body := []byte(`{"id":"evt_0123456789abcdef","type":"collection.created","at":"2026-01-01T00:00:00Z","org_id":"` + org + `","data":{}}`)
	floorStart := time.Now()
	const floorN = 2000
	for range floorN {
		hr, _ := http.NewRequest("POST", rcv.URL+"/hook", bytes.NewReader(body))
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Cmekd-Signature", webhooks.Signature("whsec_bench", time.Now(), body))
		resp, err := client.Do(hr)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportMetric(floorN/time.Since(floorStart).Seconds(), "floor_posts/s")

	// The other floor: one durable commit per delivery (the record), alone.
	const commits = 200
	commitStart := time.Now()
	for range commits {
		e.exec(`UPDATE webhooks SET attempts = 0 WHERE org_id = $1`, org)
	}
	b.ReportMetric(commits/time.Since(commitStart).Seconds(), "floor_commits/s")
}

// BenchmarkAPIWhileReceiversHang measures GET …/collections while 32 endpoints point at a receiver
// that accepts connections and never answers (each delivery waits out its 10 s timeout, every
// dispatcher slot is taken), against the same server with no webhooks: a hanging receiver must not
// slow the API.
func BenchmarkAPIWhileReceiversHang(b *testing.B) {
	for _, hang := range []bool{false, true} {
		name := "no_webhooks"
		if hang {
			name = "32_receivers_hang"
		}
		b.Run(name, func(b *testing.B) {
			e := setup(b)
			org := e.createOrg("Bench")
			e.collection(org, "events", true)
			if hang {
				release := make(chan struct{})
				stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					select {
					case <-release:
					case <-r.Context().Done():
					}
				}))
				b.Cleanup(func() { close(release); stuck.Close() })
				// 32 hanging receivers, half of them another organisation's: one organisation may have
				// 25 webhooks at most.
				orgs := []string{org, e.createOrg("Bench neighbour")}
				for i := range 32 {
					owner := orgs[i%2]
					wh, _ := e.webhook(owner, fmt.Sprintf("%s/hook%d", stuck.URL, i), "*")
					e.must(http.StatusAccepted, req{method: "POST", path: "/v1/orgs/" + owner + "/webhooks/" + wh + "/test", token: adminToken})
				}
				eventually(b, 10*time.Second, "every dispatcher slot busy", func() bool {
					return e.count(`SELECT count(*) FROM webhooks WHERE lease_owner <> ''`) >= 16
				})
			}
			client := &http.Client{}
			var lat []time.Duration
			b.ResetTimer()
			for b.Loop() {
				hr, _ := http.NewRequest("GET", e.url+"/v1/orgs/"+org+"/collections", nil)
				hr.Header.Set("Authorization", "Bearer "+adminToken)
				t0 := time.Now()
				resp, err := client.Do(hr)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
		})
	}
}
