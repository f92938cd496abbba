package e2e_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// enableKeyEvents turns key events on for org and returns the answer.
func (e *env) enableKeyEvents(org string) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/key-events", token: adminToken})
}

// keyEvent is a CloudTrail-shaped EventBridge event about keyARN.
func keyEvent(name, keyARN string) map[string]any {
	f := strings.Split(keyARN, ":")
	return map[string]any{
		"version": "0", "id": "ev-" + name + "-" + time.Now().Format("150405.000000"), "detail-type": "AWS API Call via CloudTrail",
		"source": "aws.kms", "account": f[4], "time": time.Now().UTC().Format(time.RFC3339), "region": f[3],
		"resources": []string{keyARN},
		"detail": map[string]any{"eventName": name, "eventSource": "kms.amazonaws.com",
			"requestParameters": map[string]any{"keyId": strings.TrimPrefix(f[5], "key/")}},
	}
}

// deliver posts an event to org's delivery route with apiKey.
func (e *env) deliver(org, apiKey string, body any) response {
	e.t.Helper()
	r := req{method: "POST", path: "/v1/key-events/aws/" + org, body: body}
	if apiKey != "" {
		r.header = map[string]string{"Cmekd-Events-Key": apiKey}
	}
	return e.do(r)
}

// TestKeyEvents_HintHaltsWithinSecondsAndTheProbeDecides: with an hour between probes, an event about
// the disabled key halts the collection at once; an event about the healthy key changes nothing.
func TestKeyEvents_HintHaltsWithinSecondsAndTheProbeDecides(t *testing.T) {
	t.Parallel()
	e := setup(t, slowProbes)
	org, key := e.cmekOrg("acme-events")
	col := e.collection(org, "orders", true)["id"].(string)
	on := e.enableKeyEvents(org)
	apiKey := on["api_key"].(string)
	if !strings.HasPrefix(apiKey, "kev_") || on["api_key_name"] != "Cmekd-Events-Key" || on["endpoint"] != e.url+"/v1/key-events/aws/"+org {
		t.Fatalf("enable answered %v", on)
	}
	if e.count(`SELECT count(*) FROM key_event_sources WHERE position($1 in encode(api_key_hash, 'escape')) > 0`, apiKey) != 0 {
		t.Fatal("the api key is stored as is")
	}

	// A forged event (the right api key, the key healthy) is taken, matched, and changes nothing.
	if r := e.deliver(org, apiKey, keyEvent("DisableKey", key)); r.Status != http.StatusAccepted {
		t.Fatalf("forged event: %d %s", r.Status, r.Body)
	}
	eventually(t, 5*time.Second, "the forged event's probe", func() bool { return e.eventCount(org, "key.event_received") == 1 })
	time.Sleep(1500 * time.Millisecond)
	if c := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken}); c["state"] != "active" {
		t.Fatalf("a forged event moved the collection to %v", c["state"])
	}

	// The key really disabled: the event halts the collection within seconds.
	e.disableKey(key)
	start := time.Now()
	e.must(http.StatusAccepted, req{method: "POST", path: "/v1/key-events/aws/" + org, body: keyEvent("DisableKey", key),
		header: map[string]string{"Cmekd-Events-Key": apiKey}})
	eventually(t, 5*time.Second, "ingest_halted", func() bool {
		c := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken})
		return c["state"] == "ingest_halted"
	})
	t.Logf("event → ingest_halted in %s", time.Since(start))

	// Enabled again: the next event restores it.
	e.enableKey(key)
	e.must(http.StatusAccepted, req{method: "POST", path: "/v1/key-events/aws/" + org, body: keyEvent("EnableKey", key),
		header: map[string]string{"Cmekd-Events-Key": apiKey}})
	e.waitState(org, col, "active")

	// An event about another key is taken but matches nothing.
	other := strings.Replace(key, ":key/", ":key/0000", 1)
	e.must(http.StatusAccepted, req{method: "POST", path: "/v1/key-events/aws/" + org, body: keyEvent("DisableKey", other),
		header: map[string]string{"Cmekd-Events-Key": apiKey}})
	st := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/key-events", token: e.token(org, "member")})
	if st["configured"] != true || st["events_received"] != 4.0 || st["events_matched"] != 3.0 || st["last_event_name"] != "DisableKey" ||
		st["last_event_at"] == nil {
		t.Fatalf("key events status %v", st)
	}
	ev := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/events?type=key.event_received", token: adminToken})
	first := ev["events"].([]any)[0].(map[string]any)
	if d := first["details"].(map[string]any); d["event_name"] != "EnableKey" || !strings.HasPrefix(d["event_id"].(string), "ev-EnableKey") {
		t.Fatalf("key.event_received %v", first)
	}
	if strings.Contains(e.logs.String(), "eventSource") {
		t.Fatal("an event body was logged")
	}
}

// TestKeyEvents_RefusesAlike: a wrong key, no key and an unknown organisation answer the same 401;
// a malformed event 400, a large one 413, a flood 429; only the owner turns events on and off.
func TestKeyEvents_RefusesAlike(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, key := e.cmekOrg("acme-refuse")
	apiKey := e.enableKeyEvents(org)["api_key"].(string)

	body := func(r response) string {
		var m map[string]any
		_ = json.Unmarshal(r.Body, &m)
		delete(m, "request_id")
		b, _ := json.Marshal(m)
		return string(b)
	}
	wrong := e.wantError(http.StatusUnauthorized, "unauthorized", req{method: "POST", path: "/v1/key-events/aws/" + org,
		body: keyEvent("DisableKey", key), header: map[string]string{"Cmekd-Events-Key": "kev_wrong"}})
	unknown := e.wantError(http.StatusUnauthorized, "unauthorized", req{method: "POST", path: "/v1/key-events/aws/org_nosuchorganisation0000000",
		body: keyEvent("DisableKey", key), header: map[string]string{"Cmekd-Events-Key": apiKey}})
	missing := e.wantError(http.StatusUnauthorized, "unauthorized", req{method: "POST", path: "/v1/key-events/aws/" + org,
		body: keyEvent("DisableKey", key)})
	if body(wrong) != body(unknown) || body(wrong) != body(missing) {
		t.Fatalf("401s differ:\n%s\n%s\n%s", wrong.Body, unknown.Body, missing.Body)
	}
	hdr := map[string]string{"Cmekd-Events-Key": apiKey}
	e.wantError(http.StatusBadRequest, "invalid_json", req{method: "POST", path: "/v1/key-events/aws/" + org, raw: []byte(`{"id":1}`), header: hdr})
	e.wantError(http.StatusBadRequest, "invalid_json", req{method: "POST", path: "/v1/key-events/aws/" + org, raw: []byte(`[]`), header: hdr})
	big := keyEvent("DisableKey", key)
	big["detail"].(map[string]any)["padding"] = strings.Repeat("x", 300<<10)
	e.wantError(http.StatusRequestEntityTooLarge, "payload_too_large", req{method: "POST", path: "/v1/key-events/aws/" + org, body: big, header: hdr})

	// A flood of well-formed events runs into the organisation's rate.
	limited := false
	for i := 0; i < 400 && !limited; i++ {
		r := e.deliver(org, apiKey, map[string]any{"id": "x", "source": "aws.kms", "detail-type": "Other"})
		switch r.Status {
		case http.StatusAccepted:
		case http.StatusTooManyRequests:
			limited = r.Header.Get("Retry-After") != ""
		default:
			t.Fatalf("event %d: %d %s", i, r.Status, r.Body)
		}
	}
	if !limited {
		t.Fatal("no 429 with Retry-After")
	}

	// Rotation: the old key stops working at once.
	operator := e.token(org, "operator")
	e.wantError(http.StatusForbidden, "forbidden", req{method: "POST", path: "/v1/orgs/" + org + "/key-events", token: operator})
	e.enableKeyEvents(org)
	e.wantError(http.StatusUnauthorized, "unauthorized", req{method: "POST", path: "/v1/key-events/aws/" + org, body: keyEvent("DisableKey", key),
		header: hdr})
	e.wantError(http.StatusForbidden, "forbidden", req{method: "DELETE", path: "/v1/orgs/" + org + "/key-events", token: operator})
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org + "/key-events", token: adminToken})
	e.wantError(http.StatusNotFound, "not_found", req{method: "DELETE", path: "/v1/orgs/" + org + "/key-events", token: adminToken})
	if st := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/key-events", token: adminToken}); st["configured"] != false {
		t.Fatalf("after delete: %v", st)
	}

	// A provider-managed organisation has no key of its own to watch.
	pm := e.createOrg("acme-provider")
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "POST", path: "/v1/orgs/" + pm + "/key-events", token: adminToken})

	metrics := e.do(req{method: "GET", path: "/metrics"})
	for _, want := range []string{`cmekd_key_events_total{result="unauthorized"} 4`, `cmekd_key_events_total{result="too_large"} 1`,
		`cmekd_key_events_total{result="malformed"} 2`} {
		if !bytes.Contains(metrics.Body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestKeyEvents_SetupAsPrintedThenDisableHaltsWithinSeconds: the setup script runs as printed with
// the AWS CLI v2 against the emulator; disabling the key with the CLI then halts the collection
// within seconds although probes are an hour apart, and enabling it restores it.
func TestKeyEvents_SetupAsPrintedThenDisableHaltsWithinSeconds(t *testing.T) {
	t.Parallel()
	cli := awsCLIv2(t)
	e := setup(t, slowProbes)
	org, key := e.cmekOrg("acme-cli")
	col := e.collection(org, "orders", true)["id"].(string)
	on := e.enableKeyEvents(org)
	setupCLI := on["setup"].(map[string]any)["cli"].(string)
	if strings.Contains(setupCLI, "<") || !strings.Contains(setupCLI, on["api_key"].(string)) {
		t.Fatalf("the script is not ready to run:\n%s", setupCLI)
	}
	e.customerShell(t, cli, setupCLI)

	e.customerShell(t, cli, "aws kms disable-key --key-id "+key)
	start := time.Now() // the CLI's own start-up takes seconds on a busy machine
	eventually(t, 5*time.Second, "ingest_halted after disable-key", func() bool {
		c := e.must(200, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken})
		return c["state"] == "ingest_halted"
	})
	t.Logf("disable-key answered → ingest_halted in %s", time.Since(start))
	e.customerShell(t, cli, "aws kms enable-key --key-id "+key)
	eventually(t, 5*time.Second, "active after enable-key", func() bool {
		c := e.must(200, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken})
		return c["state"] == "active"
	})
	st := e.must(200, req{method: "GET", path: "/v1/orgs/" + org + "/key-events", token: adminToken})
	if st["events_matched"].(float64) < 2 || st["last_event_name"] != "EnableKey" {
		t.Fatalf("key events status %v", st)
	}
}
