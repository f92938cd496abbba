package kmstest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/cmekd/cmekd/internal/domain"
)

// capabilities are what a target KMS can do, found once per Env by asking it. Each missing one is
// a reason that names it, for the subtests that need it to skip with; a subtest whose capability
// is present fails on any deviation.
type capabilities struct {
	multiRegion string // "" when multi-region keys can be created
	grants      string // "" when the grant API answers
	policies    string // "" when key policies are enforced
	keySpecs    map[specUsage]specProbe
}

// specUsage is a KeySpec/KeyUsage pair that symmetric operations must refuse.
type specUsage struct {
	spec  types.KeySpec
	usage types.KeyUsageType
}

// specProbe is the key made to learn whether a spec/usage pair can be created.
type specProbe struct {
	keyARN string // the key, when it could be created
	reason string // why not, otherwise
}

// wrongUsagePairs are the non-symmetric keys WrongKeyUsage checks.
var wrongUsagePairs = []specUsage{
	{types.KeySpecRsa2048, types.KeyUsageTypeSignVerify},
	{types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt},
	{types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify},
	{types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac},
}

func (p specUsage) String() string { return string(p.spec) + "/" + string(p.usage) }

// capabilities detects, the first time it is called, what env can do. Keys it creates are cleaned
// up with t, the test that runs the whole suite.
func (e *Env) capabilities(t *testing.T) *capabilities {
	e.capsOnce.Do(func() { e.caps = e.detect(t) })
	return e.caps
}

func (e *Env) detect(t *testing.T) *capabilities {
	ctx := context.Background()
	customer := e.SDK(t, e.Region, e.CustomerAccessKey)
	c := &capabilities{keySpecs: map[specUsage]specProbe{}}

	if keyARN, err := e.tryCreateKey(t, &awskms.CreateKeyInput{MultiRegion: aws.Bool(true)}); err != nil {
		c.multiRegion = "the target cannot create multi-region keys (CreateKey with MultiRegion: " + errName(err) + ")"
	} else if keyARN == "" {
		c.multiRegion = "the target ignored MultiRegion"
	}

	probe, err := e.tryCreateKey(t, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("kmstest: the target cannot create a symmetric key with its default policy: %v", err)
	}
	if _, err := customer.ListGrants(ctx, &awskms.ListGrantsInput{KeyId: aws.String(probe)}); err != nil {
		c.grants = "the target has no grant API (ListGrants: " + errName(err) + ")"
	}
	_, err = e.PlatformClient(t).DescribeKey(ctx, probe)
	if err == nil {
		c.policies = "the target does not enforce key policies: the platform described a key whose default policy admits only its owner"
		if e.EnforcesPolicies {
			t.Fatal("kmstest: the Env claims to enforce key policies, but " + c.policies)
		}
	} else if cerr := codeIs(err, domain.CodeAccessDenied, "kms:DescribeKey"); cerr != nil {
		t.Fatalf("kmstest: DescribeKey of a key with the default policy, as the platform: %v", cerr)
	}

	for _, p := range wrongUsagePairs {
		keyARN, err := e.tryCreateKey(t, &awskms.CreateKeyInput{KeySpec: p.spec, KeyUsage: p.usage, Policy: aws.String(e.PlatformPolicy())})
		if err != nil {
			c.keySpecs[p] = specProbe{reason: "the target cannot create " + p.String() + " keys (" + errName(err) + ")"}
			continue
		}
		c.keySpecs[p] = specProbe{keyARN: keyARN}
	}
	return c
}

// tryCreateKey creates a key as the customer; a key in a real account is scheduled for deletion
// when t ends. It returns "" and no error when the answer names no key.
func (e *Env) tryCreateKey(t *testing.T, in *awskms.CreateKeyInput) (string, error) {
	in.Description = aws.String("cmekd test capability probe")
	out, err := e.SDK(t, e.Region, e.CustomerAccessKey).CreateKey(context.Background(), in)
	if err != nil {
		return "", err
	}
	keyARN := aws.ToString(out.KeyMetadata.Arn)
	e.cleanupKey(t, e.Region, keyARN)
	if in.MultiRegion != nil && *in.MultiRegion && !aws.ToBool(out.KeyMetadata.MultiRegion) {
		return "", nil
	}
	return keyARN, nil
}

// errName is an error's AWS name, or its text when it has none.
func errName(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err.Error()
}
