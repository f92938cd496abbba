package kmstest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
)

// GrantPolicy is grant mode's whole generated key policy for keyARN, with ControlPrincipal and
// DataPrincipal as the platform's identities.
func GrantPolicy(t testing.TB, keyARN string) string {
	t.Helper()
	arn, err := keyarn.Parse(keyARN)
	if err != nil {
		t.Fatal(err)
	}
	v, err := keypolicy.Generate(keypolicy.Request{KeyARN: arn, PlatformPrincipal: ControlPrincipal,
		DataPrincipal: DataPrincipal, Template: keypolicy.TemplateFull})
	if err != nil {
		t.Fatal(err)
	}
	b, err := keypolicy.JSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// PutPolicy sets keyARN's default policy to policy, as the customer.
func (e *Env) PutPolicy(t testing.TB, keyARN, policy string) {
	t.Helper()
	if _, err := e.SDK(t, e.Region, e.CustomerAccessKey).PutKeyPolicy(context.Background(), &awskms.PutKeyPolicyInput{
		KeyId: aws.String(keyARN), Policy: aws.String(policy), PolicyName: aws.String("default")}); err != nil {
		t.Fatal(err)
	}
}
