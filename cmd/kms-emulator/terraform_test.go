package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
	"github.com/cmekd/cmekd/internal/testing/tftest"
)

// tfConfig is the platform engineer's configuration: keys, a multi-region
// primary and its replica, an alias and a grant. The second version changes
// what can change in place (description, tags, rotation, the alias target).
func tfConfig(endpoint string, second bool) string {
	description, tags, rotation, aliasTarget := "cmekd tenant key", `{ team = "data", cost = "x" }`, "true", "aws_kms_key.tenant.key_id"
	if second {
		description, tags, rotation, aliasTarget = "cmekd tenant key, renamed", `{ team = "platform", env = "dev" }`, "false", "aws_kms_key.spare.key_id"
	}
	provider := func(alias, region string) string {
		return `
provider "aws" {
  ` + alias + `
  region                      = "` + region + `"
  access_key                  = "` + customerAKID + `"
  secret_key                  = "emulator-ignores-the-signature"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    kms = "` + endpoint + `"
    sts = "` + endpoint + `"
  }
}
`
	}
	return provider("", home) + provider(`alias = "replica"`, replicaHome) + `
resource "aws_kms_key" "tenant" {
  description             = "` + description + `"
  deletion_window_in_days = 7
  enable_key_rotation     = ` + rotation + `
  tags                    = ` + tags + `
}

resource "aws_kms_key" "spare" {
  description             = "spare"
  deletion_window_in_days = 7
}

resource "aws_kms_key" "primary" {
  description             = "multi-region primary"
  multi_region            = true
  deletion_window_in_days = 7
}

resource "aws_kms_replica_key" "replica" {
  provider                = aws.replica
  primary_key_arn         = aws_kms_key.primary.arn
  description             = "replica"
  deletion_window_in_days = 7
}

resource "aws_kms_alias" "tenant" {
  name          = "alias/cmekd-tenant"
  target_key_id = ` + aliasTarget + `
}

resource "aws_kms_grant" "platform" {
  name              = "cmekd-platform"
  key_id            = aws_kms_key.tenant.key_id
  grantee_principal = "` + platformRole + `"
  operations        = ["GenerateDataKey", "Decrypt"]
  constraints {
    encryption_context_subset = { tenant = "acme" }
  }
}

output "tenant_arn" { value = aws_kms_key.tenant.arn }
output "primary_id" { value = aws_kms_key.primary.key_id }
`
}

// TestTerraform_ManagesKeysAgainstTheEmulator runs Terraform's AWS provider
// against the emulator through a whole cycle: plan, apply, cmekd's own
// aws_kms_key_policy added and in-place changes applied, a plan that must
// show no changes, and destroy. Every request the provider makes must
// succeed: an operation it needs and the emulator lacks fails the test.
func TestTerraform_ManagesKeysAgainstTheEmulator(t *testing.T) {
	t.Parallel()
	tf := tftest.Find(t, tftest.Options{})
	srv := startServer(t) // the default -replica-delay: the provider must wait for the replica
	dir := t.TempDir()
	write := func(name, text string) { writeFile(t, dir, name, []byte(text)) }

	write("main.tf", tfConfig(srv.endpoint, false))
	tf.Run(t, dir, "init", "-input=false")
	if out, code := tf.Run(t, dir, "plan", "-input=false", "-detailed-exitcode", "-out=first.plan"); code != 2 {
		t.Fatalf("first plan exit %d, want 2 (changes):\n%s", code, out)
	}
	tf.Run(t, dir, "apply", "-input=false", "first.plan")
	var outputs struct {
		TenantARN struct{ Value string } `json:"tenant_arn"`
		PrimaryID struct{ Value string } `json:"primary_id"`
	}
	if err := json.Unmarshal(tf.Output(t, dir, "output", "-json"), &outputs); err != nil {
		t.Fatalf("terraform output: %v", err)
	}

	// The customer adds cmekd's policy resource, generated for the key, and changes the key.
	arn, err := keyarn.Parse(outputs.TenantARN.Value)
	if err != nil {
		t.Fatalf("tenant key ARN %q: %v", outputs.TenantARN.Value, err)
	}
	policyTF, err := keypolicy.Terraform(keypolicy.Request{KeyARN: arn, PlatformPrincipal: platformRole, Template: keypolicy.TemplateFull})
	if err != nil {
		t.Fatal(err)
	}
	write("cmekd.tf", policyTF)
	write("main.tf", tfConfig(srv.endpoint, true))
	tf.Run(t, dir, "apply", "-input=false", "-auto-approve")
	// key_id as a full ARN, or anything the emulator reads back otherwise than AWS, shows here.
	if out, code := tf.Run(t, dir, "plan", "-input=false", "-detailed-exitcode"); code != 0 {
		t.Fatalf("plan after apply exit %d, want 0 (no changes):\n%s", code, out)
	}

	// What the customer's AWS console would show.
	customer := sdk(srv.endpoint, home)
	ctx := t.Context()
	md, err := customer.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String("alias/cmekd-tenant")})
	if err != nil || aws.ToString(md.KeyMetadata.Description) != "spare" {
		t.Fatalf("alias/cmekd-tenant names %+v (%v), want the spare key", md, err)
	}
	pol, err := customer.GetKeyPolicy(ctx, &awskms.GetKeyPolicyInput{KeyId: aws.String(arn.KeyID)})
	if err != nil || !strings.Contains(aws.ToString(pol.Policy), "cmekdAllowUseOfTheKey") {
		t.Fatalf("tenant key policy = %v (%v), want cmekd's", aws.ToString(pol.Policy), err)
	}
	tags, err := customer.ListResourceTags(ctx, &awskms.ListResourceTagsInput{KeyId: aws.String(arn.KeyID)})
	if err != nil || len(tags.Tags) != 2 {
		t.Fatalf("tenant key tags = %+v (%v), want team and env", tags, err)
	}

	tf.Run(t, dir, "destroy", "-input=false", "-auto-approve")
	for _, c := range []struct {
		region, key string
		state       types.KeyState
	}{
		{home, arn.KeyID, types.KeyStatePendingDeletion},
		{replicaHome, outputs.PrimaryID.Value, types.KeyStatePendingDeletion},
		{home, outputs.PrimaryID.Value, types.KeyStatePendingReplicaDeletion},
	} {
		out, err := sdk(srv.endpoint, c.region).DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(c.key)})
		if err != nil || out.KeyMetadata.KeyState != c.state {
			t.Errorf("%s in %s after destroy: %+v (%v), want %s", c.key, c.region, out, err, c.state)
		}
	}
	// Destroying aws_kms_key_policy restores the default policy, naming the account the provider read from STS.
	pol, err = customer.GetKeyPolicy(ctx, &awskms.GetKeyPolicyInput{KeyId: aws.String(arn.KeyID)})
	if err != nil || strings.Contains(aws.ToString(pol.Policy), "cmekd") || !strings.Contains(aws.ToString(pol.Policy), customerAccount) {
		t.Errorf("tenant key policy after destroy = %s (%v)", aws.ToString(pol.Policy), err)
	}

	for _, line := range strings.Split(srv.logs.String(), "\n") {
		var rec struct{ Msg, Op, Outcome string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "kms request" && rec.Outcome != "ok" {
			t.Errorf("the provider's %s failed: %s", rec.Op, line)
		}
	}
}

// sdk is the customer's aws-sdk-go-v2 KMS client for region.
func sdk(endpoint, region string) *awskms.Client {
	return awskms.New(awskms.Options{Region: region, BaseEndpoint: aws.String(endpoint), Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(customerAKID, "x", "")})
}
