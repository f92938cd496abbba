package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// TestRegions_AddTheReplicaOfTheHomeKey walks the README's regions example with cmekctl: the replica
// missing (the failed check prints the command that makes it), replicated, linked; a collection there.
func TestRegions_AddTheReplicaOfTheHomeKey(t *testing.T) {
	t.Parallel()
	s, admin := adminEnv(t, nil)
	home := s.KMS.CreateCustomerKey(t, testserver.Home, kmstest.KeyOptions{MultiRegion: true})
	org := createOrg(t, admin, "Globex", home)
	admin["CMEKD_ORG"] = org
	const west = "us-west-2"
	r := cli(t, admin, "", "regions", "add", "--region", west)
	if want := "aws kms replicate-key --key-id " + home + " --replica-region " + west; r.code != 1 || !strings.Contains(r.stdout+r.stderr, want) {
		t.Fatalf("regions add before the replica exists: exit %d\nstdout %s\nstderr %s\nwant %q in it", r.code, r.stdout, r.stderr, want)
	}
	if _, err := s.KMS.SDK(t, testserver.Home, s.KMS.CustomerAccessKey).ReplicateKey(context.Background(), &awskms.ReplicateKeyInput{
		KeyId: aws.String(home), ReplicaRegion: aws.String(west), Policy: aws.String(s.KMS.PlatformPolicy())}); err != nil {
		t.Fatal(err)
	}
	replica := strings.Replace(home, ":"+testserver.Home+":", ":"+west+":", 1)
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
