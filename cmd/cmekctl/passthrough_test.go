package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDocumentsAndJSON_PassTheAPIsBytesThrough(t *testing.T) {
	t.Parallel()
	_, admin, _ := adminOrg(t, "Bytes")
	col := createCollection(t, admin, "numbers")
	doc := `{"zeta":12345678901234567890,"alpha":{"y":0.1000000000000000055511151231257827,"b":[1,2]},"mid":"x"}`
	id := strings.TrimSpace(must(t, admin, doc+"\n", "documents", "ingest", col, "-o", "id"))

	if out := must(t, admin, "", "documents", col); !strings.Contains(out, doc) {
		t.Errorf("cmekctl documents changed the document:\n%s\nwant it to hold %s", out, doc)
	}
	page := must(t, admin, "", "documents", col, "-o", "json")
	if !strings.Contains(page, `"data":`+doc) || !json.Valid([]byte(page)) {
		t.Errorf("cmekctl documents -o json is not the API's page as sent:\n%s", page)
	}
	if got := must(t, admin, "", "documents", "get", col, id, "-o", "json"); !strings.Contains(got, `"data":`+doc) {
		t.Errorf("cmekctl documents get -o json:\n%s", got)
	}
	// -o json is the answer as sent: compact, in the server's key order, not re-encoded.
	if got := must(t, admin, "", "orgs", "get", "-o", "json"); strings.Contains(got, "\n  ") || !strings.HasPrefix(got, `{"`) {
		t.Errorf("cmekctl orgs get -o json was re-encoded:\n%s", got)
	}
}

func TestList_IsAcceptedWhereverABareNounLists(t *testing.T) {
	t.Parallel()
	_, admin, _ := adminOrg(t, "Lists")
	col := createCollection(t, admin, "events")
	for _, args := range [][]string{{"orgs"}, {"collections"}, {"regions"}, {"tokens"}, {"workspaces"}, {"webhooks"}, {"scopes"}, {"backups"}, {"documents", col}} {
		bare := must(t, admin, "", args...)
		withList := must(t, admin, "", append([]string{args[0], "list"}, args[1:]...)...)
		if bare != withList {
			t.Errorf("cmekctl %s list printed\n%s\nbut cmekctl %s printed\n%s", args[0], withList, args[0], bare)
		}
	}
	for _, noun := range []string{"probe", "key-status"} { // they do not list
		if r := cli(t, admin, "", noun, "list"); r.code != exitUsage {
			t.Errorf("cmekctl %s list: exit %d, want %d", noun, r.code, exitUsage)
		}
	}
}
