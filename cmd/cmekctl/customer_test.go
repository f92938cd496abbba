package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// What the customer does to its own key in its account with the AWS SDK, beside cmekctl: the tests'
// one way to the customer's KMS client in the home region.

func customerKMS(t *testing.T, s *testserver.Server) *awskms.Client {
	return s.KMS.SDK(t, testserver.Home, s.KMS.CustomerAccessKey)
}

// replicateKey makes the replica of the multi-region key home in region, with the platform's policy,
// and returns the replica's ARN.
func replicateKey(t *testing.T, s *testserver.Server, home, region string) string {
	t.Helper()
	if _, err := customerKMS(t, s).ReplicateKey(context.Background(), &awskms.ReplicateKeyInput{
		KeyId: aws.String(home), ReplicaRegion: aws.String(region), Policy: aws.String(s.KMS.PlatformPolicy())}); err != nil {
		t.Fatal(err)
	}
	return strings.Replace(home, ":"+testserver.Home+":", ":"+region+":", 1)
}

// putKeyPolicy replaces the key's policy with policy.
func putKeyPolicy(t *testing.T, s *testserver.Server, key, policy string) error {
	_, err := customerKMS(t, s).PutKeyPolicy(context.Background(), &awskms.PutKeyPolicyInput{
		KeyId: aws.String(key), PolicyName: aws.String("default"), Policy: aws.String(policy)})
	return err
}

// disableKey disables the key.
func disableKey(t *testing.T, s *testserver.Server, key string) error {
	_, err := customerKMS(t, s).DisableKey(context.Background(), &awskms.DisableKeyInput{KeyId: aws.String(key)})
	return err
}

// revokeGrant revokes one grant on the key.
func revokeGrant(t *testing.T, s *testserver.Server, key, grant string) error {
	_, err := customerKMS(t, s).RevokeGrant(context.Background(), &awskms.RevokeGrantInput{KeyId: aws.String(key), GrantId: aws.String(grant)})
	return err
}
