package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// keyEventTrials is how many disable → halt trials one iteration of BenchmarkKeyEvents runs: one
// iteration outlasts `make bench`'s -benchtime 2s, so that run reports over 100 trials.
const keyEventTrials = 100

// keyEventKeys is how many organisations, each on its own key with key events set up, the trials go
// round: cmekd probes a key at most once a second, so one key takes a trial every two seconds or so
// (the disable's probe, the enable's a second later, a second more); eight keep a trial going about
// every quarter of a second.
const keyEventKeys = 8

// probeSpacing is how long a trial waits after its key's last probe before disabling it: more than
// the second cmekd leaves between two probes of one key.
const probeSpacing = 1100 * time.Millisecond

// status is the answer's status of a bare GET as the admin, no OpenAPI check (it is polled hard).
func status(client *http.Client, url string, into any) int {
	hr, _ := http.NewRequest("GET", url, nil)
	hr.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := client.Do(hr)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if into != nil {
		_ = json.Unmarshal(body, into)
	}
	return resp.StatusCode
}

// eventsTarget is one organisation BenchmarkKeyEvents disables the key of: its key, key events api
// key, a collection and a document in it.
type eventsTarget struct {
	org, key, apiKey, colURL, docURL string
}

// eventsTargets creates n organisations, each on its own key with a collection, a document and key
// events on, and runs each one's setup.cli as printed with the AWS CLI v2 cli (none when cli is "").
func (e *env) eventsTargets(b *testing.B, n int, cli string) []eventsTarget {
	b.Helper()
	targets := make([]eventsTarget, n)
	var scripts errgroup.Group
	scripts.SetLimit(runtime.GOMAXPROCS(0)) // the CLI's start-up, most of a script's time, is CPU
	for i := range targets {
		org, key := e.cmekOrg(fmt.Sprintf("bench-events-%d", i))
		col := e.collection(org, "orders", true)["id"].(string)
		doc := e.ingest(org, col, map[string]any{"n": 1})[0]
		on := e.enableKeyEvents(org)
		targets[i] = eventsTarget{org: org, key: key, apiKey: on["api_key"].(string),
			colURL: e.url + "/v1/orgs/" + org + "/collections/" + col, docURL: e.url + docsPath(org, col) + "/" + doc}
		if cli != "" {
			script, home := on["setup"].(map[string]any)["cli"].(string), b.TempDir()
			scripts.Go(func() error { _, err := e.customerScript(cli, home, script); return err })
		}
	}
	if err := scripts.Wait(); err != nil {
		b.Fatal(err)
	}
	return targets
}

// collectionState is the state of the collection at url.
func collectionState(client *http.Client, url string) string {
	var c struct{ State string }
	status(client, url, &c)
	return c.State
}

// readyForTrial waits until t's collection is active, its document readable, and its key's last
// probe probeSpacing old, whatever caused that probe (the enable of its last trial, or the probe
// kmsCallsPerProbe counts): a disable within a second of a probe waits out the rest of that second.
func (e *env) readyForTrial(b *testing.B, client *http.Client, t eventsTarget) {
	b.Helper()
	eventually(b, 30*time.Second, t.org+" active and readable", func() bool {
		return collectionState(client, t.colURL) == "active" && status(client, t.docURL, nil) == http.StatusOK
	})
	last, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e.keyStatus(t.org)["last_probe_at"]))
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Until(last.Add(probeSpacing)))
}

// keyEventTrial disables t's key as its owner and measures, from the moment DisableKey returns, how
// long until the collection is ingest_halted and until a document read fails; then it enables the
// key again. With post, it posts the CloudTrail-shaped events itself.
func (e *env) keyEventTrial(b *testing.B, client *http.Client, t eventsTarget, post bool) (halt, fail time.Duration) {
	b.Helper()
	e.kms.DisableKey(b, t.key)
	t0 := time.Now()
	if post {
		e.deliver(t.org, t.apiKey, keyEvent("DisableKey", t.key))
	}
	for halt == 0 || fail == 0 {
		if time.Since(t0) > 30*time.Second {
			b.Fatalf("30 s after DisableKey: halted after %s, reads failing after %s", halt, fail)
		}
		if halt == 0 && collectionState(client, t.colURL) == "ingest_halted" {
			halt = time.Since(t0)
		}
		if fail == 0 && status(client, t.docURL, nil) != http.StatusOK {
			fail = time.Since(t0)
		}
		time.Sleep(2 * time.Millisecond)
	}
	e.kms.EnableKey(b, t.key)
	if post {
		e.deliver(t.org, t.apiKey, keyEvent("EnableKey", t.key))
	}
	return halt, fail
}

// BenchmarkKeyEvents measures how long a customer's DisableKey takes to stop cmekd, with key events
// set up as the customer would (setup.cli run as printed against the emulator's EventBridge, which
// delivers to cmekd) and probes an hour apart, so that only the event can be what cmekd noticed.
// Each trial disables a key as its owner through the SDK and, from the moment DisableKey returns,
// polls the collection until it is ingest_halted and a document read until it fails; then enables
// the key and goes on to the next organisation's key. A key's next trial waits until its collection
// is active and readable again and its last probe a little over a second old (cmekd probes a key at
// most once a second and coalesces the hints in between: a disable within that second would measure
// the spacing, not the path of an event). kms_calls_ratio is the KMS calls per key-hour with 60 s
// probing over those with events and a 15 min safety net, from the KMS calls one probe makes, counted
// in cmekd_kms_requests_total.
func BenchmarkKeyEvents(b *testing.B) {
	e := setup(b, slowProbes)
	cli := findAWSCLIv2()
	if cli == "" {
		// Without the CLI the event is posted to the delivery route when DisableKey returns.
		b.Log("the AWS CLI v2 is not installed: each trial posts the CloudTrail-shaped event itself")
	}
	targets := e.eventsTargets(b, keyEventKeys, cli)
	client := &http.Client{}
	perProbe := e.kmsCallsPerProbe(targets[0])

	var halts, readsFail []time.Duration
	for b.Loop() {
		for i := range keyEventTrials {
			t := targets[i%len(targets)]
			e.readyForTrial(b, client, t)
			halt, fail := e.keyEventTrial(b, client, t, cli == "")
			halts, readsFail = append(halts, halt), append(readsFail, fail)
		}
	}
	b.StopTimer()
	b.ReportMetric(percentile(halts, 50).Seconds(), "halt_p50_s")
	b.ReportMetric(percentile(halts, 99).Seconds(), "halt_p99_s")
	b.ReportMetric(slices.Max(halts).Seconds(), "halt_max_s")
	b.ReportMetric(percentile(readsFail, 50).Seconds(), "reads_fail_p50_s")
	b.ReportMetric(percentile(readsFail, 99).Seconds(), "reads_fail_p99_s")
	b.ReportMetric(float64(len(halts)), "trials")
	b.ReportMetric(perProbe, "kms_calls_per_probe")
	// Per key-hour: 60 probes a minute apart, against 4 a quarter-hour apart (and the probes the
	// events themselves cause, one per change of the key, which a key rarely has).
	probeOnly := time.Hour.Seconds() / (60 * time.Second).Seconds() * perProbe
	withEvents := time.Hour.Seconds() / (15 * time.Minute).Seconds() * perProbe
	b.ReportMetric(probeOnly/withEvents, "kms_calls_ratio")
	var matched float64
	for _, t := range targets {
		matched += e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + t.org + "/key-events", token: adminToken})["events_matched"].(float64)
	}
	if matched < float64(2*len(halts)) {
		b.Fatalf("%v events matched for %d trials", matched, len(halts))
	}
}

// kmsCallsPerProbe is the KMS calls of one probe of t's key: one matched event about the healthy
// key, one probe.
func (e *env) kmsCallsPerProbe(t eventsTarget) float64 {
	e.t.Helper()
	before := e.kmsCalls()
	at := time.Now()
	e.must(http.StatusAccepted, req{method: "POST", path: "/v1/key-events/aws/" + t.org, body: keyEvent("EnableKey", t.key),
		header: map[string]string{"Cmekd-Events-Key": t.apiKey}})
	e.probedAfter(t.org, at)
	time.Sleep(200 * time.Millisecond) // the probe's last call is counted once it returns
	return e.kmsCalls() - before
}

// keyEventOrgs is how many organisations BenchmarkKeyEventsDelivery spreads its events over: each
// takes bursts of 100 events, then 10 a second, on a replica (not configurable), so the benchmark
// measures the route and not one organisation's budget.
const keyEventOrgs = 96

// BenchmarkKeyEventsDelivery: 16 concurrent senders post well-formed events to the delivery route,
// half naming the organisation's linked (healthy) key (matched: an audit record and a coalesced
// probe), half another key (unmatched: counted). Events are spread round robin over 96 organisations
// so that the per-organisation rate, which is not configurable, does not bound the figure; 429s are
// counted apart and left out of the latencies.
// unmatched_only sends only events about other keys: what the route costs without the audit record
// and the probes.
func BenchmarkKeyEventsDelivery(b *testing.B) {
	b.Run("mixed", func(b *testing.B) { benchKeyEventsDelivery(b, 2) })
	b.Run("unmatched_only", func(b *testing.B) { benchKeyEventsDelivery(b, 1) })
}

// benchKeyEventsDelivery sends one event in every `every` about the linked key, the others about
// another key.
func benchKeyEventsDelivery(b *testing.B, every int64) {
	e := setup(b, slowProbes)
	type target struct{ org, apiKey, key string }
	targets := make([]target, keyEventOrgs)
	for i := range targets {
		org, key := e.cmekOrg(fmt.Sprintf("bench-delivery-%d", i))
		targets[i] = target{org, e.enableKeyEvents(org)["api_key"].(string), key}
	}
	const senders = 16
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	var next, accepted, limited atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(max(1, senders/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			n := next.Add(1)
			tg := targets[n%int64(len(targets))]
			key := tg.key
			if every == 1 || n%every != 0 {
				key = strings.Replace(key, ":key/", ":key/0000", 1)
			}
			ev := keyEvent("DisableKey", key)
			ev["id"] = fmt.Sprintf("bench-%d", n)
			body, _ := json.Marshal(ev)
			hr := e.request(req{method: "POST", path: "/v1/key-events/aws/" + tg.org, header: map[string]string{"Cmekd-Events-Key": tg.apiKey}}, body)
			t0 := time.Now()
			resp, err := client.Do(hr)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusAccepted:
				mine = append(mine, time.Since(t0))
				accepted.Add(1)
			case http.StatusTooManyRequests:
				limited.Add(1)
			default:
				b.Errorf("event %d: %d", n, resp.StatusCode)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(accepted.Load())/elapsed.Seconds(), "events/s")
	b.ReportMetric(ms(percentile(lat, 50)), "p50_ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99_ms")
	b.ReportMetric(float64(limited.Load()), "rate_limited")
}
