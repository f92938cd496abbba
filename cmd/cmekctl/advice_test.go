package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// routeInAdvice is an HTTP route where cmekctl should have named a command.
var routeInAdvice = regexp.MustCompile(`/v1/|\b(GET|POST|PUT|PATCH|DELETE) /`)

func TestAdvise_NamesCommandsForTheRoutesTheServerNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, key, want string }{
		{"Add the policy statement from GET /v1/key-policy to the key's policy.", "arn:k",
			"Add the policy statement from cmekctl key-policy arn:k to the key's policy."},
		{"give the replica the same statement (GET /v1/key-policy?key_arn=arn:aws:kms:us-west-2:1:key/mrk-1).", "",
			"give the replica the same statement (cmekctl key-policy arn:aws:kms:us-west-2:1:key/mrk-1)."},
		{"renew the grants (POST /v1/orgs/{org}/grants/renew).", "", "renew the grants (cmekctl grants renew)."},
		{`the organisation does not use region "x"; add it first with POST /v1/orgs/{org}/regions`, "",
			`the organisation does not use region "x"; add it first with cmekctl regions add --region REGION`},
		{"restore the key, then POST …/resume", "", "restore the key, then cmekctl collections resume COLLECTION_ID"},
	} {
		if got := advise(tc.in, tc.key); got != tc.want {
			t.Errorf("advise(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// TestAdvice_TheCLIsOwnWordsNameNoRoute reads cmekctl's source: its messages (help aside, which
// documents what the API does) name commands, not routes.
func TestAdvice_TheCLIsOwnWordsNameNoRoute(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	printed := regexp.MustCompile(`(?:Fprint\w*|Errorf|errors\.New|return) *\([^\n]*"[^"\n]*"`)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") || e.Name() == "advice.go" {
			continue
		}
		b, err := os.ReadFile(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range printed.FindAllString(string(b), -1) {
			if routeInAdvice.MatchString(m) {
				t.Errorf("%s prints a route: %s", e.Name(), m)
			}
		}
	}
}

func TestKeyCheck_AdviceNamesCommandsAndAnAliasGetsNoStatement(t *testing.T) {
	t.Parallel()
	s, env := adminEnv(t, nil)
	keyARN := s.KMS.CreateCustomerKey(t, testserver.Home, kmstest.KeyOptions{DefaultPolicy: true})

	r := cli(t, env, "", "key-check", keyARN)
	if r.code != 1 || !strings.Contains(r.stdout, "cmekctl key-policy "+keyARN) || routeInAdvice.MatchString(r.stdout+r.stderr) {
		t.Errorf("key-check of a key that does not admit the platform: exit %d; want its advice to name cmekctl key-policy and no route:\n%s%s", r.code, r.stdout, r.stderr)
	}

	alias := "arn:aws:kms:eu-west-1:111122223333:alias/warehouse"
	r = cli(t, env, "", "key-check", alias)
	out := r.stdout + r.stderr
	if r.code != 1 || !strings.Contains(out, "alias") {
		t.Fatalf("key-check of an alias ARN: exit %d\n%s", r.code, out)
	}
	if strings.Contains(out, `"Sid"`) || strings.Contains(out, "Add this statement") || strings.Contains(out, "null") {
		t.Errorf("key-check of an alias ARN prints a policy statement:\n%s", out)
	}
	if want := `aws kms describe-key --key-id "alias/warehouse" --region eu-west-1`; !strings.Contains(out, want) {
		t.Errorf("key-check of an alias ARN does not suggest %q:\n%s", want, out)
	}
}

// TestRegionsAdd_ReplicaNotThereYetSaysToWaitAndRetryTheSameCommand: the replica is being created
// when the operator adds the region; cmekctl shows the command to run again, and it then succeeds.
func TestRegionsAdd_ReplicaNotThereYetSaysToWaitAndRetryTheSameCommand(t *testing.T) {
	t.Parallel()
	s, admin := adminEnv(t, nil)
	org, home := orgOnKey(t, s, admin, "Initech", kmstest.KeyOptions{MultiRegion: true})
	const west = "us-west-2"
	r := cli(t, admin, "", "regions", "add", "--org", org, "--region", west)
	retry := "cmekctl regions add --org " + org + " --region " + west
	if r.code != 1 || !strings.Contains(r.stderr, "wait, then retry:\n  "+retry+"\n") || routeInAdvice.MatchString(r.stdout+r.stderr) {
		t.Fatalf("regions add before the replica exists: exit %d; want the retry %q and no route\nstdout %s\nstderr %s", r.code, retry, r.stdout, r.stderr)
	}
	s.KMS.ReplicateKey(t, home, west)
	must(t, admin, "", strings.Fields(strings.TrimPrefix(retry, "cmekctl "))...)
}

// TestGrants_RevokedGrantAdvisesRenewAndRenewBringsReadsBack runs grant mode through the CLI: the
// customer puts the whole policy cmekctl key-policy prints on the key, the organisation gets its
// grant, the customer revokes it with the AWS SDK, and a read is refused with the advice to run
// cmekctl grants renew; the owner runs it, and the same read answers again.
func TestGrants_RevokedGrantAdvisesRenewAndRenewBringsReadsBack(t *testing.T) {
	t.Parallel()
	s, admin := adminEnv(t, nil, testserver.GrantMode)
	key := s.KMS.CreateCustomerKey(t, testserver.Home, kmstest.KeyOptions{DefaultPolicy: true})
	policy := must(t, admin, "", "key-policy", "--template", "full", key)
	s.KMS.PutPolicy(t, key, policy) // the policy cmekctl key-policy printed

	org := createOrg(t, admin, "Globex", key)
	owner := tokenEnv(t, admin, org, "ops", "owner")
	col := createCollection(t, owner, "events")
	doc := strings.TrimSpace(must(t, owner, `{"user":"ada"}`+"\n", "documents", "ingest", col, "-o", "id"))
	grants := strings.Fields(must(t, owner, "", "grants", "-o", "id"))
	if len(grants) != 1 {
		t.Fatalf("grants -o id in grant mode: %q, want the organisation's one grant", grants)
	}

	s.KMS.RevokeGrant(t, key, grants[0])
	cli(t, owner, "", "probe") // the key is found unavailable now rather than at the next scheduled probe
	r := cli(t, owner, "", "documents", "get", col, doc)
	advice := "renew it:\n  cmekctl grants renew --org " + org + "\n"
	if r.code != 1 || !strings.Contains(r.stderr, "key_unavailable") || !strings.Contains(r.stderr, advice) || routeInAdvice.MatchString(r.stdout+r.stderr) {
		t.Fatalf("a read after the grant was revoked: exit %d; want key_unavailable, the advice %q and no route\nstdout %s\nstderr %s",
			r.code, advice, r.stdout, r.stderr)
	}

	must(t, owner, "", "grants", "renew", "--org", org) // the command as advised
	if got := must(t, owner, "", "documents", "get", col, doc); !strings.Contains(got, `"user": "ada"`) {
		t.Errorf("documents get after cmekctl grants renew: %s", got)
	}
	if after := strings.Fields(must(t, owner, "", "grants", "-o", "id")); len(after) != 2 {
		t.Errorf("grants after renewal: %q, want the revoked one and its successor", after)
	}
}
