package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
)

// keyEventTrials is how many disable → halt trials one iteration of BenchmarkKeyEvents runs, so that
// `make bench` (-benchtime 2s, which one iteration outlasts) still reports over a real sample;
// -benchtime 5x gives 100.
const keyEventTrials = 20

// probeSpacing is how long a trial waits after the key is active again before disabling it: more
// than the second cmekd leaves between two probes of one key.
const probeSpacing = 1100 * time.Millisecond

// findAWSCLIv2 is the AWS CLI v2 on the machine, or "".
func findAWSCLIv2() string {
	for _, dir := range append(filepath.SplitList(os.Getenv("PATH")), "/usr/bin", "/usr/local/bin") {
		path := filepath.Join(dir, "aws")
		if out, err := exec.Command(path, "--version").CombinedOutput(); err == nil && bytes.HasPrefix(out, []byte("aws-cli/2.")) {
			return path
		}
	}
	return ""
}

// runCustomerScript runs script as the key owner with the AWS CLI v2 cli against the emulator, as
// customerShell does, for benchmarks too.
func (e *env) runCustomerScript(tb testing.TB, cli, script string) {
	tb.Helper()
	home := tb.TempDir()
	bin := filepath.Join(home, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		tb.Fatal(err)
	}
	// CLI releases before 2.13 ignore AWS_ENDPOINT_URL: the `aws` first on PATH passes it on.
	wrapper := "#!/bin/sh\nexec " + cli + " --endpoint-url \"$AWS_ENDPOINT_URL\" \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(wrapper), 0o700); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + home, "AWS_ENDPOINT_URL=" + e.kms.Endpoint,
		"AWS_ACCESS_KEY_ID=" + e.kms.CustomerAccessKey, "AWS_SECRET_ACCESS_KEY=not-a-secret", "AWS_DEFAULT_REGION=" + home0,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "NO_PROXY=127.0.0.1"}
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// kmsCalls is the sum of cmekd_kms_requests_total on the server's /metrics: every KMS call cmekd made.
func (e *env) kmsCalls() float64 {
	e.t.Helper()
	resp := e.do(req{method: "GET", path: "/metrics"})
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(resp.Body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "cmekd_kms_requests_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			e.t.Fatalf("metrics line %q", line)
		}
		sum += v
	}
	return sum
}

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

// BenchmarkKeyEvents measures how long a customer's DisableKey takes to stop cmekd, with key events
// set up as the customer would (setup.cli run as printed against the emulator's EventBridge, which
// delivers to cmekd) and probes an hour apart, so that only the event can be what cmekd noticed.
// Each trial disables the key as its owner through the SDK and, from the moment DisableKey returns,
// polls the collection until it is ingest_halted and a document read until it fails; then enables the
// key, waits for the collection to be active and the read to succeed again, and lets a second pass
// (cmekd probes a key at most once a second, and coalesces the hints in between). kms_calls_ratio is
// the KMS calls per key-hour with 60 s probing over those with events and a 15 min safety net, from
// the KMS calls one probe makes, counted in cmekd_kms_requests_total.
func BenchmarkKeyEvents(b *testing.B) {
	e := setup(b, slowProbes)
	org, key := e.cmekOrg("bench-events")
	col := e.collection(org, "orders", true)["id"].(string)
	doc := e.ingest(org, col, map[string]any{"n": 1})[0]
	on := e.enableKeyEvents(org)
	apiKey := on["api_key"].(string)
	cli := findAWSCLIv2()
	if cli == "" {
		// Without the CLI the event is posted to the delivery route when DisableKey returns.
		b.Log("the AWS CLI v2 is not installed: each trial posts the CloudTrail-shaped event itself")
	} else {
		e.runCustomerScript(b, cli, on["setup"].(map[string]any)["cli"].(string))
	}
	ctx := context.Background()
	owner := e.owner()
	client := &http.Client{}
	colURL := e.url + "/v1/orgs/" + org + "/collections/" + col
	docURL := e.url + docsPath(org, col) + "/" + doc
	if st := status(client, docURL, nil); st != http.StatusOK {
		b.Fatalf("document read before the trials: %d", st)
	}

	// The KMS calls of one probe: one matched event about the healthy key, one probe.
	before := e.kmsCalls()
	at := time.Now()
	e.must(http.StatusAccepted, req{method: "POST", path: "/v1/key-events/aws/" + org, body: keyEvent("EnableKey", key),
		header: map[string]string{"Cmekd-Events-Key": apiKey}})
	e.probedAfter(org, at)
	time.Sleep(200 * time.Millisecond) // the probe's last call is counted once it returns
	perProbe := e.kmsCalls() - before

	var halts, readsFail []time.Duration
	collectionState := func() string {
		var c struct{ State string }
		status(client, colURL, &c)
		return c.State
	}
	for b.Loop() {
		for range keyEventTrials {
			if _, err := owner.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: aws.String(key)}); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			if cli == "" {
				e.deliver(org, apiKey, keyEvent("DisableKey", key))
			}
			var halt, fail time.Duration
			for halt == 0 || fail == 0 {
				if time.Since(t0) > 30*time.Second {
					b.Fatalf("30 s after DisableKey: halted after %s, reads failing after %s", halt, fail)
				}
				if halt == 0 && collectionState() == "ingest_halted" {
					halt = time.Since(t0)
				}
				if fail == 0 && status(client, docURL, nil) != http.StatusOK {
					fail = time.Since(t0)
				}
				time.Sleep(2 * time.Millisecond)
			}
			halts, readsFail = append(halts, halt), append(readsFail, fail)

			if _, err := owner.EnableKey(ctx, &awskms.EnableKeyInput{KeyId: aws.String(key)}); err != nil {
				b.Fatal(err)
			}
			if cli == "" {
				e.deliver(org, apiKey, keyEvent("EnableKey", key))
			}
			eventually(b, 30*time.Second, "active and readable again", func() bool {
				return collectionState() == "active" && status(client, docURL, nil) == http.StatusOK
			})
			// cmekd probes a key at most once a second: a disable within a second of the enable's probe
			// would wait for that second, which measures the coalescing, not the path of an event.
			time.Sleep(probeSpacing)
		}
	}
	b.StopTimer()
	b.ReportMetric(percentile(halts, 50).Seconds(), "halt_p50_s")
	b.ReportMetric(percentile(halts, 99).Seconds(), "halt_p99_s")
	b.ReportMetric(percentile(readsFail, 50).Seconds(), "reads_fail_p50_s")
	b.ReportMetric(percentile(readsFail, 99).Seconds(), "reads_fail_p99_s")
	b.ReportMetric(float64(len(halts)), "trials")
	b.ReportMetric(perProbe, "kms_calls_per_probe")
	// Per key-hour: 60 probes a minute apart, against 4 a quarter-hour apart (and the probes the
	// events themselves cause, one per change of the key, which a key rarely has).
	probeOnly := time.Hour.Seconds() / (60 * time.Second).Seconds() * perProbe
	withEvents := time.Hour.Seconds() / (15 * time.Minute).Seconds() * perProbe
	b.ReportMetric(probeOnly/withEvents, "kms_calls_ratio")
	if st := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/key-events", token: adminToken}); st["events_matched"].(float64) < float64(2*len(halts)) {
		b.Fatalf("fewer events matched than trials made: %v", st)
	}
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
			hr, _ := http.NewRequest("POST", e.url+"/v1/key-events/aws/"+tg.org, bytes.NewReader(body))
			hr.Header.Set("Content-Type", "application/json")
			hr.Header.Set("Cmekd-Events-Key", tg.apiKey)
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
