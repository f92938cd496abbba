package awsemu

import (
	"encoding/json"
	"testing"
)

func TestMatchPattern_EventBridgeSemantics(t *testing.T) {
	event := `{"source":"aws.kms","detail-type":"AWS API Call via CloudTrail","account":"111122223333","region":"us-east-1",
		"resources":["arn:aws:kms:us-east-1:111122223333:key/k1","arn:aws:kms:us-east-1:111122223333:key/k2"],
		"detail":{"eventName":"DisableKey","requestParameters":{"keyId":"k1"},"userIdentity":{"type":"Root"},"count":5}}`
	var ev map[string]any
	if err := json.Unmarshal([]byte(event), &ev); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pattern string
		want    bool
	}{
		{`{"source":["aws.kms"]}`, true},
		{`{"source":["aws.s3"]}`, false},
		{`{"source":["aws.s3","aws.kms"]}`, true},
		{`{"resources":["arn:aws:kms:us-east-1:111122223333:key/k2"]}`, true}, // any element of an array
		{`{"resources":["arn:aws:kms:us-east-1:111122223333:key/k3"]}`, false},
		{`{"detail":{"eventName":["DisableKey"]}}`, true},           // nested
		{`{"detail":{"requestParameters":{"keyId":["k1"]}}}`, true}, // deeper
		{`{"detail":{"eventName":["EnableKey"]}}`, false},
		{`{"detail-type":[{"prefix":"AWS API"}]}`, true},
		{`{"detail-type":[{"prefix":"KMS"}]}`, false},
		{`{"region":[{"suffix":"-1"}]}`, true},
		{`{"detail":{"eventName":[{"anything-but":"EnableKey"}]}}`, true},
		{`{"detail":{"eventName":[{"anything-but":["EnableKey","DisableKey"]}]}}`, false},
		{`{"detail":{"eventName":[{"anything-but":{"prefix":"Dis"}}]}}`, false},
		{`{"detail":{"eventName":[{"exists":true}]}}`, true},
		{`{"detail":{"key-id":[{"exists":false}]}}`, true},
		{`{"detail":{"key-id":[{"exists":true}]}}`, false},
		{`{"detail":{"key-id":["x"]}}`, false}, // a missing field matches no value
		{`{"detail":{"key-id":[{"anything-but":"x"}]}}`, false},
		{`{"detail":{"missing":{"x":[{"exists":false}]}}}`, true},
		{`{"detail-type":[{"equals-ignore-case":"aws api call via cloudtrail"}]}`, true},
		{`{"detail":{"count":[{"numeric":[">",1,"<=",5]}]}}`, true},
		{`{"detail":{"count":[{"numeric":[">",5]}]}}`, false},
		{`{"source":["aws.kms"],"$or":[{"detail-type":["KMS CMK Deletion"]},{"detail":{"eventName":["DisableKey"]}}]}`, true},
		{`{"source":["aws.kms"],"$or":[{"detail-type":["KMS CMK Deletion"]},{"detail":{"eventName":["EnableKey"]}}]}`, false},
		{`{"source":["aws.kms"],"account":["999988887777"]}`, false}, // every field must match
	} {
		p, err := parsePattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got := matchPattern(p, ev); got != tc.want {
			t.Errorf("%s matched %v, want %v", tc.pattern, got, tc.want)
		}
	}
	for _, bad := range []string{`[]`, `{"source":"aws.kms"}`, `{"$or":["x"]}`, `not json`} {
		if _, err := parsePattern(bad); err == nil {
			t.Errorf("parsePattern(%s) took it", bad)
		}
	}
}
