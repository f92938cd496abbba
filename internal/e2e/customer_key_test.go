package e2e_test

import (
	"fmt"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// What the customer does to its own key, with its own credentials, behind cmekd's back.

// disableKey disables key as its owner, the customer, would: with the customer's client in the
// key's own region.
func (e *env) disableKey(key string) { e.kms.DisableKey(e.t, key) }

// enableKey enables key again as its owner would.
func (e *env) enableKey(key string) { e.kms.EnableKey(e.t, key) }

// scheduleDeletion schedules key for deletion in seven days, as its owner would.
func (e *env) scheduleDeletion(key string) { e.kms.ScheduleDeletion(e.t, key) }

// cancelDeletion cancels key's deletion, which leaves it disabled.
func (e *env) cancelDeletion(key string) { e.kms.CancelDeletion(e.t, key) }

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
