package awsemu

import (
	"encoding/json"
	"testing"

	"github.com/cmekd/cmekd/internal/keyevents"
)

// TestMatchPattern_KeyEventsRuleMatchesEventsAsAWSSendsThem: the rule cmekd's setup writes matches a
// CloudTrail record's event as EventBridge delivers it (the key ARN in detail.resources, the
// top-level resources empty) and KMS's own deletion event (the key ARN in the top-level resources),
// and neither about another key.
func TestMatchPattern_KeyEventsRuleMatchesEventsAsAWSSendsThem(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	const other = "arn:aws:kms:us-east-1:111122223333:key/0000abcd-12ab-34cd-56ef-1234567890ab"
	raw, _ := json.Marshal(keyevents.Pattern([]string{key}))
	p, err := parsePattern(string(raw))
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	cloudTrail := func(name, arn string) string {
		return `{"version":"0","id":"1","detail-type":"AWS API Call via CloudTrail","source":"aws.kms","account":"111122223333",
			"region":"us-east-1","resources":[],"detail":{"eventSource":"kms.amazonaws.com","eventName":"` + name + `",
			"requestParameters":{"keyId":"` + arn + `"},"resources":[{"accountId":"111122223333","type":"AWS::KMS::Key","ARN":"` + arn + `"}]}}`
	}
	deletion := func(arn string) string {
		return `{"version":"0","id":"2","detail-type":"KMS CMK Deletion","source":"aws.kms","account":"111122223333",
			"region":"us-east-1","resources":["` + arn + `"],"detail":{"key-id":"1234abcd-12ab-34cd-56ef-1234567890ab"}}`
	}
	for _, tc := range []struct {
		name, event string
		want        bool
	}{
		{"DisableKey", cloudTrail("DisableKey", key), true},
		{"RetireGrant", cloudTrail("RetireGrant", key), true},
		{"a call that changes nothing", cloudTrail("Decrypt", key), false},
		{"DisableKey of another key", cloudTrail("DisableKey", other), false},
		{"deletion", deletion(key), true},
		{"deletion of another key", deletion(other), false},
	} {
		var ev map[string]any
		if err := json.Unmarshal([]byte(tc.event), &ev); err != nil {
			t.Fatal(err)
		}
		if got := matchPattern(p, ev); got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.name, got, tc.want)
		}
	}
}
