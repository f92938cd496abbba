package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestMetrics_LabelsAreBounded: methods a client makes up fold into "other", so /metrics does not
// grow with what clients send.
func TestMetrics_LabelsAreBounded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for i := range 50 {
		e.exchange(http.DefaultClient, req{method: fmt.Sprintf("X%dMETHOD", i), path: "/v1/orgs"}, nil)
	}
	b := e.metrics()
	if strings.Contains(b, "METHOD") {
		t.Fatalf("a client's made-up method became a label")
	}
	if !strings.Contains(b, `method="other"`) {
		t.Fatalf("no method=\"other\" series after 50 made-up methods")
	}
}

// metrics scrapes /metrics.
func (e *env) metrics() string {
	e.t.Helper()
	return string(e.do(req{method: "GET", path: "/metrics"}).Body)
}

// kmsCalls is the sum of cmekd_kms_requests_total on the server's /metrics: every KMS call cmekd made.
func (e *env) kmsCalls() float64 {
	e.t.Helper()
	var sum float64
	for _, line := range strings.Split(e.metrics(), "\n") {
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

// TestOperations_KeyFailureIsVisible: a customer's key failing is logged once at WARN, and the
// fleet-wide gauges count keys by status and collections by state.
func TestOperations_KeyFailureIsVisible(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, key := e.cmekOrg("Acme")
	e.collection(org, "events", true)
	for _, want := range []string{`cmekd_keys{status="healthy"} 1`, `cmekd_keys{status="unavailable"} 0`, `cmekd_collections{state="active"} 1`} {
		if m := e.metrics(); !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	e.disableKey(key)
	for range 2 { // the second probe finds what the first did: no second warning
		e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: adminToken})
	}
	for _, want := range []string{`cmekd_keys{status="unavailable"} 1`, `cmekd_collections{state="ingest_halted"} 1`, `cmekd_collections{state="active"} 0`} {
		if m := e.metrics(); !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	warnings := 0
	for _, line := range strings.Split(e.logs.String(), "\n") {
		var l struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "key.unavailable" {
			if l.Level != "WARN" {
				t.Errorf("key.unavailable logged at %s, want WARN", l.Level)
			}
			warnings++
		}
	}
	if warnings != 1 {
		t.Errorf("key.unavailable logged %d times, want once per transition", warnings)
	}
}
