package e2e_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// What the customer does to its own key, with its own credentials, behind cmekd's back.

// owner is the customer's KMS client in the home region.
func (e *env) owner() *awskms.Client { return e.kms.SDK(e.t, home, e.kms.CustomerAccessKey) }

// disableKey disables key as its owner, the customer, would: with the customer's client in the
// key's own region.
func (e *env) disableKey(key string) { switchKey(e.t, e.kms, key, false) }

// enableKey enables key again as its owner would.
func (e *env) enableKey(key string) { switchKey(e.t, e.kms, key, true) }

// switchKey enables or disables key with the customer's client of kenv in the key's region.
func switchKey(t testing.TB, kenv *kmstest.Env, key string, enabled bool) {
	t.Helper()
	arn, err := keyarn.Parse(key)
	if err != nil {
		t.Fatal(err)
	}
	owner := kenv.SDK(t, arn.Region, kenv.CustomerAccessKey)
	if enabled {
		_, err = owner.EnableKey(context.Background(), &awskms.EnableKeyInput{KeyId: aws.String(key)})
	} else {
		_, err = owner.DisableKey(context.Background(), &awskms.DisableKeyInput{KeyId: aws.String(key)})
	}
	if err != nil {
		t.Fatalf("set %s enabled=%t: %v", key, enabled, err)
	}
}

// scheduleDeletion schedules key for deletion in seven days, as its owner would.
func (e *env) scheduleDeletion(key string) {
	e.t.Helper()
	if _, err := e.owner().ScheduleKeyDeletion(context.Background(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(key), PendingWindowInDays: aws.Int32(7)}); err != nil {
		e.t.Fatalf("schedule deletion of %s: %v", key, err)
	}
}

// cancelDeletion cancels key's deletion, which leaves it disabled.
func (e *env) cancelDeletion(key string) {
	e.t.Helper()
	if _, err := e.owner().CancelKeyDeletion(context.Background(), &awskms.CancelKeyDeletionInput{KeyId: aws.String(key)}); err != nil {
		e.t.Fatalf("cancel deletion of %s: %v", key, err)
	}
}

// setPolicy replaces key's policy with policy, as its owner would.
func (e *env) setPolicy(key, policy string) {
	e.t.Helper()
	e.kms.PutPolicy(e.t, key, policy)
}

// rootOnlyPolicy is a key policy that no longer admits the platform.
func rootOnlyPolicy() string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow",`+
		`"Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"}]}`, kmstest.EmulatorAccount)
}
