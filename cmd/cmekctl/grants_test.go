package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// TestGrants_RevokedGrantAdvisesRenewAndRenewBringsReadsBack runs grant mode through the CLI: the
// customer puts the whole policy cmekctl key-policy prints on the key, the organisation gets its
// grant, the customer revokes it with the AWS SDK, and a read is refused with the advice to run
// cmekctl grants renew; the owner runs it, and the same read answers again.
func TestGrants_RevokedGrantAdvisesRenewAndRenewBringsReadsBack(t *testing.T) {
	t.Parallel()
	s, admin := adminEnv(t, nil, testserver.GrantMode)
	key := s.KMS.CreateCustomerKey(t, testserver.Home, kmstest.KeyOptions{DefaultPolicy: true})
	customer := s.KMS.SDK(t, testserver.Home, s.KMS.CustomerAccessKey)
	ctx := context.Background()
	policy := must(t, admin, "", "key-policy", "--template", "full", key)
	if _, err := customer.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: aws.String(key), Policy: aws.String(policy),
		PolicyName: aws.String("default")}); err != nil {
		t.Fatalf("put the policy cmekctl key-policy printed: %v", err)
	}

	org := createOrg(t, admin, "Globex", key)
	owner := tokenEnv(t, admin, org, "ops", "owner")
	col := createCollection(t, owner, "events")
	doc := strings.TrimSpace(must(t, owner, `{"user":"ada"}`+"\n", "documents", "ingest", col, "-o", "id"))
	grants := strings.Fields(must(t, owner, "", "grants", "-o", "id"))
	if len(grants) != 1 {
		t.Fatalf("grants -o id in grant mode: %q, want the organisation's one grant", grants)
	}

	if _, err := customer.RevokeGrant(ctx, &awskms.RevokeGrantInput{KeyId: aws.String(key), GrantId: aws.String(grants[0])}); err != nil {
		t.Fatalf("revoke the grant: %v", err)
	}
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
