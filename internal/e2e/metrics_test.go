package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetrics_LabelsAreBounded: methods a client makes up fold into "other", so /metrics does not
// grow with what clients send.
func TestMetrics_LabelsAreBounded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for i := range 50 {
		r, err := http.NewRequest(fmt.Sprintf("X%dMETHOD", i), e.url+"/v1/orgs", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
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
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
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
