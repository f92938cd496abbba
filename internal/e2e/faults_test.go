package e2e_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// TestFaults_DatabaseOutageAnswers503ThenRecovers stops the server's own private PostgreSQL under
// traffic (never the shared one): while it is away, requests answer 503 database_unavailable with
// Retry-After (not 500) and /readyz answers 503; when it is back, cmekd serves again without a
// restart, and what was stored before reads back.
func TestFaults_DatabaseOutageAnswers503ThenRecovers(t *testing.T) {
	t.Parallel()
	cluster := testkit.NewCluster(t)
	e := setup(t, func(c *config.Config) {
		c.DatabaseURL = strings.Replace(cluster.URL, "/postgres?", "/cmekd?", 1)
	})
	org, col := e.orgWithCollection()
	id := e.ingest(org, col, map[string]any{"n": 1})[0]

	cluster.Stop()
	for _, r := range []req{
		{method: "GET", path: "/v1/orgs/" + org + "/collections", token: adminToken},
		{method: "GET", path: docsPath(org, col) + "/" + id, token: adminToken},
		{method: "POST", path: docsPath(org, col), token: adminToken, body: map[string]any{"documents": []any{map[string]any{"n": 2}}}},
		{method: "POST", path: "/v1/orgs", token: adminToken, body: map[string]any{"name": "Other", "region": "us-west-2"}},
	} {
		resp := e.wantError(http.StatusServiceUnavailable, "database_unavailable", r)
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", r.method, r.path)
		}
	}
	e.wantError(http.StatusServiceUnavailable, "unavailable", req{method: "GET", path: "/readyz"})

	cluster.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp := e.do(req{method: "GET", path: "/readyz"})
		if resp.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d 30 s after the database came back: %s", resp.Status, resp.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := e.readDoc(org, col, id); got != `{"n":1}` {
		t.Fatalf("after the outage the document reads %s", got)
	}
	e.ingest(org, col, map[string]any{"n": 2})
	if n := e.count(`SELECT count(*) FROM orgs WHERE name = 'Other'`); n != 0 {
		t.Fatalf("a creation refused during the outage stored %d organisations", n)
	}
}

// stallingProxy fronts the KMS emulator: while stalled, it holds every request unanswered (as a
// SIGSTOPped KMS does) until the caller gives up or the stall ends.
type stallingProxy struct {
	url     string
	mu      sync.Mutex
	release chan struct{} // closed when not stalled
}

func newStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{release: make(chan struct{})}
	close(p.release)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // requests cut off by their callers are the point here
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		release := p.release
		p.mu.Unlock()
		select {
		case <-release:
			rp.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { p.unstall(); srv.Close() })
	p.url = srv.URL
	return p
}

func (p *stallingProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.release = make(chan struct{})
}

func (p *stallingProxy) unstall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.release:
	default:
		close(p.release)
	}
}

// TestFaults_StalledKMSIsRecordedAndChangesNothing: a KMS that does not answer at all, for longer
// than the pause threshold, is a transient failure at a 1 s and a 10 s probe interval alike: recorded
// as key.probe_error and in last_error, and never a state change.
func TestFaults_StalledKMSIsRecordedAndChangesNothing(t *testing.T) {
	t.Parallel()
	for _, interval := range []time.Duration{time.Second, 10 * time.Second} {
		t.Run(interval.String(), func(t *testing.T) {
			t.Parallel()
			kenv := kmstest.StartEmulator(t)
			proxy := newStallingProxy(t, kenv.Endpoint)
			e := setupWith(t, kenv, func(c *config.Config) {
				c.KMSEndpoint = proxy.url
				c.ProbeInterval = interval
				c.PauseAfter = 2 * time.Second
			})
			org, _ := e.cmekOrg("Acme")
			col := e.collection(org, "events", true)["id"].(string)
			e.db.Exec(context.Background(), `UPDATE key_health SET next_probe_at = now() WHERE org_id = $1`, org) //nolint:errcheck
			proxy.stall()
			eventually(t, 3*interval+10*time.Second, "a key.probe_error", func() bool { return e.eventCount(org, "key.probe_error") > 0 })
			ks := e.keyStatus(org)
			lastErr, _ := ks["last_error"].(map[string]any)
			if ks["status"] != "healthy" || lastErr["code"] != "kms_unavailable" {
				t.Fatalf("key status while KMS stalls: %v", ks)
			}
			time.Sleep(2 * time.Second) // past the pause threshold
			if c := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken}); c["state"] != "active" {
				t.Fatalf("a stalled KMS changed the collection: %v", c)
			}
			if n := e.eventCount(org, "key.unavailable") + e.eventCount(org, "collection.ingest_halted") + e.eventCount(org, "collection.paused"); n != 0 {
				t.Fatalf("a stalled KMS made %d state-change events", n)
			}
			proxy.unstall()
		})
	}
}

// TestFaults_TakeoverWithinAnInterval: a replica stopped in the middle of a probe (KMS stalled under
// it) holds its lease no longer than one probe interval, so the survivor probes the key within about
// an interval, however short.
func TestFaults_TakeoverWithinAnInterval(t *testing.T) {
	t.Parallel()
	kenv := kmstest.StartEmulator(t)
	proxy := newStallingProxy(t, kenv.Endpoint)
	first := setupWith(t, kenv, func(c *config.Config) {
		c.KMSEndpoint = proxy.url
		c.ProbeInterval = time.Second
	})
	org, _ := first.cmekOrg("Acme")
	proxy.stall()
	ctx := context.Background()
	eventually(t, 10*time.Second, "the first replica to claim the key", func() bool {
		var owner string
		_ = first.db.QueryRow(ctx, `SELECT lease_owner FROM key_health WHERE org_id = $1 AND lease_until > now()`, org).Scan(&owner)
		return owner != ""
	})
	first.stop()
	stopped := time.Now()
	second := first.replica(func(c *config.Config) { c.KMSEndpoint = kenv.Endpoint })
	eventually(t, 10*time.Second, "the survivor to probe the key", func() bool {
		last, err := time.Parse(time.RFC3339Nano, fmt.Sprint(second.keyStatus(org)["last_ok_at"]))
		return err == nil && last.After(stopped)
	})
	if took := time.Since(stopped); took > 4*time.Second {
		t.Fatalf("takeover took %s at a 1 s interval", took)
	}
}
