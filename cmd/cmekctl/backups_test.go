package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

func TestBackups_CreateListRestoreDelete(t *testing.T) {
	t.Parallel()
	s, admin := adminEnv(t, nil)
	org, keyARN := orgOnKey(t, s, admin, "Acme", kmstest.KeyOptions{})
	op := tokenEnv(t, admin, org, "ops", "operator")
	col := createCollection(t, op, "events")
	must(t, op, `{"user":"ada"}`+"\n"+`{"user":"grace"}`, "documents", "ingest", col)

	bak := strings.TrimSpace(must(t, op, "", "backups", "create", col, "--wait", "-o", "id"))
	if !strings.HasPrefix(bak, "bak_") {
		t.Fatalf("backups create -o id printed %q", bak)
	}
	if out := must(t, op, "", "backups", "--collection", col); !regexp.MustCompile(bak + `\s+` + col + `\s+us-east-1\s+complete\s+2\s`).MatchString(out) {
		t.Errorf("backups table:\n%s", out)
	}
	if out := must(t, op, "", "backups", "get", bak); !strings.Contains(out, keyARN) {
		t.Errorf("backups get shows no key:\n%s", out)
	}
	restored := strings.TrimSpace(must(t, op, "", "backups", "restore", bak, "--name", "events-restored", "-o", "id"))
	var docs struct {
		Documents []struct {
			Data map[string]any `json:"data"`
		}
	}
	if err := json.Unmarshal([]byte(must(t, op, "", "documents", restored, "-o", "json")), &docs); err != nil || len(docs.Documents) != 2 ||
		docs.Documents[0].Data["user"] != "ada" || docs.Documents[1].Data["user"] != "grace" {
		t.Fatalf("restored documents: %+v %v", docs, err)
	}
	if r := cli(t, op, "", "backups", "restore", bak); r.code == 0 || !strings.Contains(r.stderr, "--name") {
		t.Errorf("restore without --name: exit %d, stderr %q", r.code, r.stderr)
	}
	member := tokenEnv(t, admin, org, "reader", "member")
	if r := cli(t, member, "", "backups", "delete", bak); r.code != 1 || !strings.Contains(r.stderr, "forbidden") {
		t.Errorf("a member deleting a backup: exit %d, stderr %q", r.code, r.stderr)
	}
	must(t, op, "", "backups", "delete", bak)
	if r := cli(t, op, "", "backups", "get", bak); r.code != 1 || !strings.Contains(r.stderr, "not_found") {
		t.Errorf("get after delete: exit %d, stderr %q", r.code, r.stderr)
	}
}
