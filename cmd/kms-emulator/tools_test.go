package main

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestAWSCLI_CustomerAdministration drives, with the AWS CLI v2, what a
// customer administers besides the key life: tags, aliases moved and
// removed, descriptions, rotation, the policy list; and what AWS refuses: a
// platform in another account administering the key even where the key
// policy allows it, a forged grant token, a grantee widening its grant.
func TestAWSCLI_CustomerAdministration(t *testing.T) {
	t.Parallel()
	cli := startCLI(t, "-replica-delay", "0s")
	customer := cli.as(customerAKID, home)
	platform := cli.as(platformAKID, home)

	var created struct{ KeyMetadata keyMetadata }
	customer.ok(t, &created, "create-key", "--description", "first", "--tags", "TagKey=team,TagValue=data", "--policy",
		`{"Version":"2012-10-17","Statement":[
		  {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+customerAccount+`:root"},"Action":"kms:*","Resource":"*"},
		  {"Effect":"Allow","Principal":{"AWS":"`+platformRole+`"},"Action":"kms:*","Resource":"*"}]}`)
	key := created.KeyMetadata
	customer.ok(t, nil, "tag-resource", "--key-id", key.KeyId, "--tags", "TagKey=env,TagValue=dev", "TagKey=team,TagValue=platform")
	customer.ok(t, nil, "untag-resource", "--key-id", key.Arn, "--tag-keys", "env")
	var tags struct {
		Tags []struct{ TagKey, TagValue string }
	}
	customer.ok(t, &tags, "list-resource-tags", "--key-id", key.KeyId)
	if len(tags.Tags) != 1 || tags.Tags[0].TagKey != "team" || tags.Tags[0].TagValue != "platform" {
		t.Fatalf("list-resource-tags = %+v", tags)
	}
	customer.ok(t, nil, "update-key-description", "--key-id", key.KeyId, "--description", "second")
	if got := customer.describe(t, key.KeyId); got.Description != "second" {
		t.Fatalf("description = %q", got.Description)
	}
	customer.ok(t, nil, "enable-key-rotation", "--key-id", key.KeyId)
	customer.ok(t, nil, "disable-key-rotation", "--key-id", key.KeyId)
	var rotation struct{ KeyRotationEnabled bool }
	customer.ok(t, &rotation, "get-key-rotation-status", "--key-id", key.KeyId)
	if rotation.KeyRotationEnabled {
		t.Fatal("rotation still enabled after disable-key-rotation")
	}
	var policies struct{ PolicyNames []string }
	customer.ok(t, &policies, "list-key-policies", "--key-id", key.KeyId)
	if !reflect.DeepEqual(policies.PolicyNames, []string{"default"}) {
		t.Fatalf("list-key-policies = %v", policies.PolicyNames)
	}

	var other struct{ KeyMetadata keyMetadata }
	customer.ok(t, &other, "create-key")
	customer.ok(t, nil, "create-alias", "--alias-name", "alias/moving", "--target-key-id", key.KeyId)
	customer.ok(t, nil, "update-alias", "--alias-name", "alias/moving", "--target-key-id", other.KeyMetadata.KeyId)
	if got := customer.describe(t, "alias/moving"); got.KeyId != other.KeyMetadata.KeyId {
		t.Fatalf("alias names %s after update-alias", got.KeyId)
	}
	customer.ok(t, nil, "delete-alias", "--alias-name", "alias/moving")
	customer.fails(t, "NotFoundException", "describe-key", "--key-id", "alias/moving")

	// The key policy lets the platform do everything; AWS still keeps administration in the account.
	platform.fails(t, "AccessDeniedException", "disable-key", "--key-id", key.Arn)
	platform.fails(t, "AccessDeniedException", "schedule-key-deletion", "--key-id", key.Arn)
	platform.fails(t, "AccessDeniedException", "put-key-policy", "--key-id", key.Arn, "--policy-name", "default",
		"--policy", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"`+platformRole+`"},"Action":"kms:*","Resource":"*"}]}`)
	customer.wantState(t, key.KeyId, "Enabled")

	// A grant of Encrypt and CreateGrant cannot give its grantee Decrypt.
	var grant struct{ GrantId, GrantToken string }
	customer.ok(t, &grant, "create-grant", "--key-id", other.KeyMetadata.KeyId, "--grantee-principal", platformRole,
		"--operations", "Encrypt", "CreateGrant")
	platform.fails(t, "AccessDeniedException", "create-grant", "--key-id", other.KeyMetadata.Arn,
		"--grantee-principal", platformRole, "--operations", "Decrypt")
	platform.fails(t, "InvalidGrantTokenException", "encrypt", "--key-id", other.KeyMetadata.Arn, "--plaintext", "aGk=",
		"--grant-tokens", "AQforged-token")
	platform.ok(t, nil, "encrypt", "--key-id", other.KeyMetadata.Arn, "--plaintext", "aGk=", "--grant-tokens="+grant.GrantToken)
}

// TestAWSCLI_MultiRegionDeletionWaitsForReplicas: a primary with a replica
// scheduled for deletion shows PendingReplicaDeletion, with no date.
func TestAWSCLI_MultiRegionDeletionWaitsForReplicas(t *testing.T) {
	t.Parallel()
	cli := startCLI(t, "-replica-delay", "0s")
	customer := cli.as(customerAKID, home)
	var created struct{ KeyMetadata keyMetadata }
	customer.ok(t, &created, "create-key", "--multi-region")
	id := created.KeyMetadata.KeyId
	customer.ok(t, nil, "replicate-key", "--key-id", id, "--replica-region", replicaHome)
	var sched struct {
		KeyState     string
		DeletionDate *time.Time
	}
	customer.ok(t, &sched, "schedule-key-deletion", "--key-id", id, "--pending-window-in-days", "7")
	if sched.KeyState != "PendingReplicaDeletion" || sched.DeletionDate != nil {
		t.Fatalf("schedule-key-deletion = %+v", sched)
	}
	if md := customer.describe(t, id); md.KeyState != "PendingReplicaDeletion" || md.DeletionDate != nil || md.Enabled {
		t.Fatalf("describe-key = %+v", md)
	}
	customer.ok(t, nil, "cancel-key-deletion", "--key-id", id)
	customer.wantState(t, id, "Disabled")
}

// TestAWSCLI_StateKeptAcrossRestarts: with -state, a key made and used before
// a restart decrypts after it, under its alias.
func TestAWSCLI_StateKeptAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, "kms.json")
	env := cliEnv(t, dir)
	bin := findCLIv2(t, env)
	first := startServer(t, "-state", state)
	customer := (&awsCLI{bin: bin, endpoint: first.endpoint, env: env}).as(customerAKID, home)
	var created struct{ KeyMetadata keyMetadata }
	customer.ok(t, &created, "create-key", "--description", "kept")
	customer.ok(t, nil, "create-alias", "--alias-name", "alias/kept", "--target-key-id", created.KeyMetadata.KeyId)
	var enc struct{ CiphertextBlob []byte }
	customer.ok(t, &enc, "encrypt", "--key-id", "alias/kept", "--plaintext", "fileb://"+writeFile(t, dir, "in.bin", []byte("yesterday")),
		"--encryption-context", "org=acme")
	first.stop()

	second := startServer(t, "-state", state)
	customer = (&awsCLI{bin: bin, endpoint: second.endpoint, env: env}).as(customerAKID, home)
	if got := customer.describe(t, "alias/kept"); got.KeyId != created.KeyMetadata.KeyId || got.Description != "kept" {
		t.Fatalf("after the restart alias/kept names %+v", got)
	}
	got := customer.decrypt(t, "decrypt", "--ciphertext-blob", "fileb://"+writeFile(t, dir, "blob", enc.CiphertextBlob),
		"--encryption-context", "org=acme")
	if !bytes.Equal(got, []byte("yesterday")) {
		t.Fatalf("decrypt after the restart = %q", got)
	}
}

func TestRun_RefusesBadFlags(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "state.json")
	writeFile(t, filepath.Dir(bad), "state.json", []byte("not json"))
	for _, args := range [][]string{
		{"-replica-delay", "-1s"},
		{"-state", bad},
		{"-principal", "nonsense"},
	} {
		var logs bytes.Buffer
		if err := run(t.Context(), append([]string{"-addr", "127.0.0.1:0"}, args...), &logs); err == nil {
			t.Errorf("run %v succeeded", args)
		}
	}
}
