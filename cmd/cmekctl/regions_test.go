package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// TestRegions_AddTheReplicaOfTheHomeKey walks the README's regions example with cmekctl: the replica
// missing (the failed check prints the command that makes it), replicated, linked; a collection there.
func TestRegions_AddTheReplicaOfTheHomeKey(t *testing.T) {
	t.Parallel()
	s, admin := adminEnv(t, nil)
	org, home := orgOnKey(t, s, admin, "Globex", kmstest.KeyOptions{MultiRegion: true})
	admin["CMEKD_ORG"] = org
	const west = "us-west-2"
	r := cli(t, admin, "", "regions", "add", "--region", west)
	if want := "aws kms replicate-key --key-id " + home + " --replica-region " + west; r.code != 1 || !strings.Contains(r.stdout+r.stderr, want) {
		t.Fatalf("regions add before the replica exists: exit %d\nstdout %s\nstderr %s\nwant %q in it", r.code, r.stdout, r.stderr, want)
	}
	replica := s.KMS.ReplicateKey(t, home, west)
	if out := must(t, admin, "", "regions", "add", "--region", west); !strings.Contains(out, replica) {
		t.Fatalf("regions add:\n%s", out)
	}
	out := must(t, admin, "", "regions")
	if !regexp.MustCompile(testserver.Home+`\s+true\s+healthy`).MatchString(out) || !regexp.MustCompile(west+`\s+false\s+healthy\s+`+regexp.QuoteMeta(replica)).MatchString(out) {
		t.Fatalf("regions table:\n%s", out)
	}
	col := strings.TrimSpace(must(t, admin, "", "collections", "create", "--name", "west", "--region", west, "-o", "id"))
	if out := must(t, admin, "", "collections"); !regexp.MustCompile(col + `\s+west\s+` + west + `\s+active`).MatchString(out) {
		t.Fatalf("collections table:\n%s", out)
	}
	// Without a data identity there are no grants; the command says so with an empty list.
	if out := strings.TrimSpace(must(t, admin, "", "grants", "-o", "id")); out != "" {
		t.Fatalf("grants -o id without grant mode: %q", out)
	}
}
