package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestAudit_TrailIsAppendOnly: the database refuses to change or remove an event, whoever asks.
func TestAudit_TrailIsAppendOnly(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.createOrg("Acme")
	for _, sql := range []string{
		`UPDATE events SET reason = 'edited'`,
		`DELETE FROM events`,
	} {
		_, err := e.db.Exec(context.Background(), sql)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want the append-only refusal", sql, err)
		}
	}
	e.wantCount(0, "events were edited", `SELECT count(*) FROM events WHERE reason = 'edited'`)
}

// TestAudit_AdminTrailKeepsDeletedOrganisations: GET /v1/events is the admin's, lists every
// organisation's events newest first, and still shows an organisation after it is deleted; renames
// are recorded as org.renamed.
func TestAudit_AdminTrailKeepsDeletedOrganisations(t *testing.T) {
	t.Parallel()
	e := setup(t)
	gone := e.createOrg("Gone")
	kept := e.createOrg("Kept")
	e.must(http.StatusOK, req{method: "PATCH", path: "/v1/orgs/" + kept, token: adminToken, body: map[string]any{"name": "Kept Renamed"}})
	member := e.token(kept, "member")
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + gone, token: adminToken})

	e.wantError(http.StatusForbidden, "forbidden", req{method: "GET", path: "/v1/events", token: member})
	e.wantError(http.StatusUnauthorized, "unauthorized", req{method: "GET", path: "/v1/events"})

	all := e.must(http.StatusOK, req{method: "GET", path: "/v1/events", token: adminToken})["events"].([]any)
	seen := map[string]bool{}
	for _, ev := range all {
		m := ev.(map[string]any)
		seen[m["org_id"].(string)+" "+m["type"].(string)] = true
	}
	for _, want := range []string{gone + " org.created", gone + " org.deleted", kept + " org.created", kept + " org.renamed"} {
		if !seen[want] {
			t.Errorf("the admin trail lacks %s: %v", want, seen)
		}
	}
	if first := all[0].(map[string]any); first["type"] != "org.deleted" {
		t.Errorf("newest first: the first event is %v", first["type"])
	}
	renamed := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + kept + "/events?type=org.renamed", token: member})["events"].([]any)
	if len(renamed) != 1 || renamed[0].(map[string]any)["reason"] != "Kept → Kept Renamed" {
		t.Fatalf("org.renamed events: %v", renamed)
	}
	deleted := e.must(http.StatusOK, req{method: "GET", path: "/v1/events?type=org.deleted&limit=1", token: adminToken})
	if evs := deleted["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["org_id"] != gone {
		t.Fatalf("the type filter: %v", deleted)
	}
}
