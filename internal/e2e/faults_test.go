package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/testkit"
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
	org := e.createOrg("Acme")
	col := e.collection(org, "events", true)["id"].(string)
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
