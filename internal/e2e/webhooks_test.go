package e2e_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// delivery is one POST a receiver got.
type delivery struct {
	path, eventID, signature string
	body                     []byte
	accepted                 bool // answered with a 2xx
}

// payload decodes the delivery's body.
func (d delivery) payload(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.body, &m); err != nil {
		t.Fatalf("delivery body %s: %v", d.body, err)
	}
	return m
}

// receiver is a real HTTP webhook receiver on 127.0.0.1 that records every delivery. It answers
// 500 to the next `failures` deliveries and 204 after.
type receiver struct {
	t        testing.TB
	srv      *httptest.Server
	failures atomic.Int32
	mu       sync.Mutex
	got      []delivery
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		d := delivery{path: req.URL.Path, eventID: req.Header.Get("Cmekd-Event-Id"), signature: req.Header.Get("Cmekd-Signature"), body: body}
		status := http.StatusNoContent
		if r.failures.Add(-1) >= 0 {
			status = http.StatusInternalServerError
		} else {
			d.accepted = true
		}
		r.mu.Lock()
		r.got = append(r.got, d)
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// url is the receiver's URL for one endpoint path.
func (r *receiver) url(path string) string { return r.srv.URL + path }

// accepted lists the deliveries to path answered with a 2xx, in arrival order.
func (r *receiver) accepted(path string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.got {
		if d.accepted && d.path == path {
			out = append(out, d)
		}
	}
	return out
}

// verify checks a delivery's signature as a receiver would, independently of cmekd's code.
func verify(t testing.TB, secret string, d delivery) {
	t.Helper()
	var ts, v1 string
	for _, part := range strings.Split(d.signature, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		t.Fatalf("signature %q: bad timestamp", d.signature)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%s.%s", ts, d.body)
	if want := hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(want), []byte(v1)) {
		t.Fatalf("signature %q does not verify with the endpoint's secret", d.signature)
	}
	if id := d.payload(t)["id"]; id != d.eventID {
		t.Fatalf("Cmekd-Event-Id %q, body id %v", d.eventID, id)
	}
}

// webhook creates an endpoint as the admin and returns its id and secret.
func (e *env) webhook(org, url string, events ...string) (id, secret string) {
	e.t.Helper()
	w := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/webhooks", token: adminToken,
		body: map[string]any{"url": url, "events": events}})
	return w["id"].(string), w["secret"].(string)
}

// deliveries reads an endpoint's delivery log, newest first.
func (e *env) deliveries(org, wh string) []map[string]any {
	e.t.Helper()
	page := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/webhooks/" + wh + "/deliveries", token: adminToken})
	var out []map[string]any
	for _, d := range page["deliveries"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

// fastRetries makes a failed delivery's first retry come after 20 ms.
func fastRetries(c *config.Config) { c.WebhookRetryBase = 20 * time.Millisecond }

func waitAccepted(t testing.TB, r *receiver, path string, n int) []delivery {
	t.Helper()
	eventually(t, 20*time.Second, fmt.Sprintf("%d deliveries to %s", n, path), func() bool { return len(r.accepted(path)) >= n })
	return r.accepted(path)
}

// TestWebhooks_KeyDisabledReachesReceiverVerified: the customer disables the key; within seconds the
// receiver gets key.unavailable and collection.ingest_halted, signed with the endpoint's secret, each
// carrying the audit event exactly as the events list shows it.
func TestWebhooks_KeyDisabledReachesReceiverVerified(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rcv := newReceiver(t)
	org, key := e.cmekOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
	_, secret := e.webhook(org, rcv.url("/hook"), "key.unavailable", "collection.ingest_halted")
	e.disableKey(key)
	disabledAt := time.Now()
	e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: adminToken})
	got := waitAccepted(t, rcv, "/hook", 2)
	if took := time.Since(disabledAt); took > 5*time.Second {
		t.Errorf("the receiver heard of the disabled key after %s", took)
	}
	events := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/events", token: adminToken})["events"].([]any)
	byID := map[string]any{}
	for _, ev := range events {
		byID[ev.(map[string]any)["id"].(string)] = ev
	}
	var types []string
	for _, d := range got {
		verify(t, secret, d)
		p := d.payload(t)
		types = append(types, p["type"].(string))
		if p["org_id"] != org || p["at"] != p["data"].(map[string]any)["at"] {
			t.Errorf("delivery %v", p)
		}
		if want := byID[d.eventID]; fmt.Sprint(want) != fmt.Sprint(p["data"]) {
			t.Errorf("delivery data %v, events list %v", p["data"], want)
		}
	}
	if !slices.Equal(types, []string{"key.unavailable", "collection.ingest_halted"}) {
		t.Errorf("delivered %v, want key.unavailable then collection.ingest_halted (audit order)", types)
	}
	if halted := got[1].payload(t)["data"].(map[string]any); halted["collection_id"] != col || halted["reason"] != "key_disabled" {
		t.Errorf("collection.ingest_halted data %v", halted)
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Error("the endpoint secret appears in the server's logs")
	}
}

// TestWebhooks_RetriesUntilDeliveredAndLogsEveryAttempt: a receiver that answers 500 three times gets
// the event on the fourth attempt, and the delivery log shows all four.
func TestWebhooks_RetriesUntilDeliveredAndLogsEveryAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t, fastRetries)
	rcv := newReceiver(t)
	rcv.failures.Store(3)
	org := e.createOrg("Acme")
	wh, secret := e.webhook(org, rcv.url("/hook"), "*")
	test := e.must(http.StatusAccepted, req{method: "POST", path: "/v1/orgs/" + org + "/webhooks/" + wh + "/test", token: adminToken})
	got := waitAccepted(t, rcv, "/hook", 1)
	verify(t, secret, got[0])
	if got[0].eventID != test["event_id"] || got[0].payload(t)["type"] != "webhook.test" {
		t.Fatalf("delivered %s, want the test event %v", got[0].body, test)
	}
	var log []map[string]any
	eventually(t, 5*time.Second, "four attempts in the log", func() bool { log = e.deliveries(org, wh); return len(log) == 4 })
	for i, d := range log { // newest first
		attempt := 4 - i
		if d["attempt"] != float64(attempt) || d["event_id"] != test["event_id"] || d["type"] != "webhook.test" || d["at"] == "" {
			t.Errorf("attempt %d: %v", attempt, d)
		}
		wantStatus, wantErr := float64(500), "the receiver answered 500"
		if attempt == 4 {
			wantStatus, wantErr = 204, ""
		}
		if d["status_code"] != wantStatus || d["error"] != wantErr {
			t.Errorf("attempt %d: status %v error %q", attempt, d["status_code"], d["error"])
		}
		if _, ok := d["latency_ms"].(float64); !ok {
			t.Errorf("attempt %d: latency_ms %v", attempt, d["latency_ms"])
		}
	}
}

// TestWebhooks_UndeliveredEventsArriveAfterRestart: events recorded while the receiver fails are not
// lost when the server stops; a new server on the same database delivers each once per endpoint.
func TestWebhooks_UndeliveredEventsArriveAfterRestart(t *testing.T) {
	t.Parallel()
	e := setup(t, fastRetries)
	rcv := newReceiver(t)
	rcv.failures.Store(1 << 30)
	org := e.createOrg("Acme")
	e.webhook(org, rcv.url("/a"), "*")
	e.webhook(org, rcv.url("/b"), "collection.created")
	var want []string
	for i := range 5 {
		col := e.collection(org, fmt.Sprintf("c%d", i), true)
		want = append(want, col["id"].(string))
	}
	eventually(t, 10*time.Second, "failed attempts", func() bool {
		return e.count(`SELECT count(*) FROM webhook_deliveries`) >= 2
	})
	e.stop()
	rcv.failures.Store(0)
	if n := len(rcv.accepted("/a")) + len(rcv.accepted("/b")); n != 0 {
		t.Fatalf("%d deliveries accepted before the restart", n)
	}
	e.replica()
	for _, path := range []string{"/a", "/b"} {
		waitAccepted(t, rcv, path, 5)
		time.Sleep(300 * time.Millisecond) // time for a duplicate to show
		got := rcv.accepted(path)
		var cols []string
		seen := map[string]bool{}
		for _, d := range got {
			if seen[d.eventID] {
				t.Errorf("%s: event %s delivered twice", path, d.eventID)
			}
			seen[d.eventID] = true
			cols = append(cols, d.payload(t)["data"].(map[string]any)["collection_id"].(string))
		}
		if !slices.Equal(cols, want) {
			t.Errorf("%s got the collection.created of %v, want %v in audit order", path, cols, want)
		}
	}
}

// TestWebhooks_TwoReplicasDeliverEachEventOnce: two servers on one database share the endpoints and
// deliver each event once, in audit order.
func TestWebhooks_TwoReplicasDeliverEachEventOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.replica()
	rcv := newReceiver(t)
	org := e.createOrg("Acme")
	e.webhook(org, rcv.url("/hook"), "collection.created")
	var want []string
	for i := range 20 {
		want = append(want, e.collection(org, fmt.Sprintf("c%d", i), true)["id"].(string))
	}
	waitAccepted(t, rcv, "/hook", 20)
	time.Sleep(time.Second) // a second replica's duplicate would land meanwhile
	got := rcv.accepted("/hook")
	var cols []string
	for _, d := range got {
		cols = append(cols, d.payload(t)["data"].(map[string]any)["collection_id"].(string))
	}
	if !slices.Equal(cols, want) {
		t.Errorf("delivered %v, want each of %v once, in order", cols, want)
	}
}

// countingListener counts the connections a loopback listener accepts.
func countingListener(t testing.TB, network, addr string) (port string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int32{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, accepted
}

// TestWebhooks_RefusesInternalURLs: URLs at metadata, private, loopback (also by name) and other
// internal addresses get 422 invalid_webhook_url, and nothing is sent to them.
func TestWebhooks_RefusesInternalURLs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	v4, hits4 := countingListener(t, "tcp4", "127.0.0.1:0")
	v6, hits6 := countingListener(t, "tcp6", "[::1]:0")
	for _, url := range []string{
		"https://169.254.169.254/latest/meta-data/",
		"https://10.0.0.1/hook",
		"https://[::1]:" + v6 + "/hook",
		"http://[::1]:" + v6 + "/hook",
		"https://localhost:" + v4 + "/hook",
		"http://localhost:" + v4 + "/hook",
		"https://[::ffff:127.0.0.1]:" + v4 + "/hook",
		"https://[::ffff:10.0.0.1]/hook",
		"https://100.64.0.1/hook",
		"https://192.168.1.1/hook",
		"https://[fd00:ec2::254]/hook",
		"https://[fe80::1]/hook",
		"https://0.0.0.0:" + v4 + "/hook",
		"http://example.com/hook",
		"ftp://example.com/hook",
		"https://user:pass@example.com/hook",
		"/relative",
	} {
		e.wantError(http.StatusUnprocessableEntity, "invalid_webhook_url", req{method: "POST", path: "/v1/orgs/" + org + "/webhooks",
			token: adminToken, body: map[string]any{"url": url, "events": []string{"*"}}})
	}
	time.Sleep(300 * time.Millisecond)
	if n := hits4.Load() + hits6.Load(); n != 0 {
		t.Errorf("%d connections reached the loopback listeners", n)
	}
	if n := e.count(`SELECT count(*) FROM webhooks`); n != 0 {
		t.Errorf("%d endpoints stored", n)
	}
}

// TestWebhooks_EndpointLifecycleAndRoles: only the owner and the admin manage endpoints; the secret
// is shown once and stored only sealed; filters are checked; a deleted endpoint is gone.
func TestWebhooks_EndpointLifecycleAndRoles(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rcv := newReceiver(t)
	org := e.createOrg("Acme")
	other := e.createOrg("Other")
	owner, operator := e.token(org, "owner"), e.token(org, "operator")
	base := "/v1/orgs/" + org + "/webhooks"
	body := map[string]any{"url": rcv.url("/hook"), "events": []string{"key.unavailable", "key.unavailable", "key.restored"}}
	e.wantError(http.StatusForbidden, "forbidden", req{method: "POST", path: base, token: operator, body: body})
	e.wantError(http.StatusForbidden, "forbidden", req{method: "GET", path: base, token: operator})
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "POST", path: base, token: owner,
		body: map[string]any{"url": rcv.url("/hook"), "events": []string{"key.gone"}}})
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "POST", path: base, token: owner,
		body: map[string]any{"url": rcv.url("/hook"), "events": []string{}}})
	e.wantError(http.StatusBadRequest, "unknown_field", req{method: "POST", path: base, token: owner,
		body: map[string]any{"url": rcv.url("/hook"), "events": []string{"*"}, "secret": "mine"}})
	created := e.must(http.StatusCreated, req{method: "POST", path: base, token: owner, body: body})
	id, secret := created["id"].(string), created["secret"].(string)
	if !slices.Equal(created["events"].([]any), []any{"key.unavailable", "key.restored"}) || created["status"] != "active" {
		t.Errorf("created %v", created)
	}
	got := e.must(http.StatusOK, req{method: "GET", path: base + "/" + id, token: owner})
	list := e.must(http.StatusOK, req{method: "GET", path: base, token: owner})
	if _, ok := got["secret"]; ok || len(list["webhooks"].([]any)) != 1 || strings.Contains(fmt.Sprint(list), secret) {
		t.Errorf("the secret is shown after creation: %v %v", got, list)
	}
	if n := e.count(`SELECT count(*) FROM webhooks WHERE position(convert_to($1, 'UTF8') in secret_sealed) > 0`, secret); n != 0 {
		t.Error("the secret is stored in plaintext")
	}
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: "/v1/orgs/" + other + "/webhooks/" + id, token: adminToken})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: base + "/wh_nope", token: owner})
	e.must(http.StatusNoContent, req{method: "DELETE", path: base + "/" + id, token: owner})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: base + "/" + id, token: owner})
	e.wantError(http.StatusNotFound, "not_found", req{method: "POST", path: base + "/" + id + "/test", token: owner})
	if n := e.count(`SELECT count(*) FROM data_keys WHERE owner_id = $1`, id); n != 0 {
		t.Errorf("%d data keys of the deleted endpoint's secret remain", n)
	}
}

// TestWebhooks_DisabledAfterADayOfFailures: an endpoint whose receiver fails for 24 hours is disabled,
// with a webhook.disabled event, and a test of it is refused.
func TestWebhooks_DisabledAfterADayOfFailures(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(time.Now().UTC())
	e := setupClocked(t, kmstest.StartEmulator(t), clk, fastRetries)
	rcv := newReceiver(t)
	rcv.failures.Store(1 << 30)
	org := e.createOrg("Acme")
	wh, _ := e.webhook(org, rcv.url("/hook"), "*")
	e.must(http.StatusAccepted, req{method: "POST", path: "/v1/orgs/" + org + "/webhooks/" + wh + "/test", token: adminToken})
	eventually(t, 10*time.Second, "a failed attempt", func() bool { return len(e.deliveries(org, wh)) >= 1 })
	clk.Advance(23 * time.Hour)
	eventually(t, 10*time.Second, "a second failed attempt", func() bool { return len(e.deliveries(org, wh)) >= 2 })
	if w := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/webhooks/" + wh, token: adminToken}); w["status"] != "active" {
		t.Fatalf("disabled before 24 hours: %v", w)
	}
	clk.Advance(2 * time.Hour)
	eventually(t, 10*time.Second, "the endpoint disabled", func() bool {
		return e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/webhooks/" + wh, token: adminToken})["status"] == "disabled"
	})
	evs := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/events?type=webhook.disabled", token: adminToken})["events"].([]any)
	if len(evs) != 1 || evs[0].(map[string]any)["webhook_id"] != wh {
		t.Fatalf("webhook.disabled events %v", evs)
	}
	e.wantError(http.StatusConflict, "webhook_disabled", req{method: "POST", path: "/v1/orgs/" + org + "/webhooks/" + wh + "/test", token: adminToken})
	n := len(e.deliveries(org, wh))
	clk.Advance(2 * time.Hour)
	time.Sleep(500 * time.Millisecond)
	if m := len(e.deliveries(org, wh)); m != n {
		t.Errorf("a disabled endpoint got %d more attempts", m-n)
	}
}
