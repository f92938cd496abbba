package kmstest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cmekd/cmekd/internal/keyarn"
)

// What the customer does to its keys, as tests need it: each fails the test if the endpoint refuses.

// customer is the key owner's SDK client in the region of key (a key ARN; the Env's region for any
// other name), where a replica key must be asked.
func (e *Env) customer(t testing.TB, key string) *awskms.Client {
	region := e.Region
	if a, err := keyarn.Parse(key); err == nil {
		region = a.Region
	}
	return e.SDK(t, region, e.CustomerAccessKey)
}

// PutPolicy sets keyARN's default policy to policy, as the customer.
func (e *Env) PutPolicy(t testing.TB, keyARN, policy string) {
	t.Helper()
	if _, err := e.customer(t, keyARN).PutKeyPolicy(context.Background(), &awskms.PutKeyPolicyInput{
		KeyId: aws.String(keyARN), Policy: aws.String(policy), PolicyName: aws.String("default")}); err != nil {
		t.Fatal(err)
	}
}

// DisableKey disables keyARN, as the customer.
func (e *Env) DisableKey(t testing.TB, keyARN string) {
	t.Helper()
	if _, err := e.customer(t, keyARN).DisableKey(context.Background(), &awskms.DisableKeyInput{KeyId: aws.String(keyARN)}); err != nil {
		t.Fatal(err)
	}
}

// EnableKey enables keyARN again, as the customer.
func (e *Env) EnableKey(t testing.TB, keyARN string) {
	t.Helper()
	if _, err := e.customer(t, keyARN).EnableKey(context.Background(), &awskms.EnableKeyInput{KeyId: aws.String(keyARN)}); err != nil {
		t.Fatal(err)
	}
}

// ScheduleDeletion schedules keyARN's deletion in seven days, as the customer.
func (e *Env) ScheduleDeletion(t testing.TB, keyARN string) {
	t.Helper()
	if _, err := e.customer(t, keyARN).ScheduleKeyDeletion(context.Background(), &awskms.ScheduleKeyDeletionInput{
		KeyId: aws.String(keyARN), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
}

// CancelDeletion cancels keyARN's scheduled deletion, as the customer.
func (e *Env) CancelDeletion(t testing.TB, keyARN string) {
	t.Helper()
	if _, err := e.customer(t, keyARN).CancelKeyDeletion(context.Background(), &awskms.CancelKeyDeletionInput{KeyId: aws.String(keyARN)}); err != nil {
		t.Fatal(err)
	}
}

// GrantIDs lists the ids of keyARN's grants (the first page), as the customer.
func (e *Env) GrantIDs(t testing.TB, keyARN string) []string {
	t.Helper()
	out, err := e.customer(t, keyARN).ListGrants(context.Background(), &awskms.ListGrantsInput{KeyId: aws.String(keyARN)})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(out.Grants))
	for _, g := range out.Grants {
		ids = append(ids, aws.ToString(g.GrantId))
	}
	return ids
}

// RevokeGrant revokes grant grantID of keyARN, as the customer.
func (e *Env) RevokeGrant(t testing.TB, keyARN, grantID string) {
	t.Helper()
	if _, err := e.customer(t, keyARN).RevokeGrant(context.Background(), &awskms.RevokeGrantInput{
		KeyId: aws.String(keyARN), GrantId: aws.String(grantID)}); err != nil {
		t.Fatal(err)
	}
}

// ReplicateKey replicates the multi-region key keyARN to region under PlatformPolicy, as the
// customer, and returns the replica's ARN. The replica may still be Creating.
func (e *Env) ReplicateKey(t testing.TB, keyARN, region string) string {
	t.Helper()
	out, err := e.customer(t, keyARN).ReplicateKey(context.Background(), &awskms.ReplicateKeyInput{
		KeyId: aws.String(keyARN), ReplicaRegion: aws.String(region), Policy: aws.String(e.PlatformPolicy())})
	if err != nil {
		t.Fatalf("ReplicateKey to %s: %v", region, err)
	}
	replicaARN := aws.ToString(out.ReplicaKeyMetadata.Arn)
	e.cleanupKey(t, region, replicaARN)
	return replicaARN
}

// KeyARN is the ARN of the key that name (an alias, a key id) stands for, as the customer describes it.
func (e *Env) KeyARN(t testing.TB, name string) string {
	t.Helper()
	out, err := e.customer(t, name).DescribeKey(context.Background(), &awskms.DescribeKeyInput{KeyId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}
