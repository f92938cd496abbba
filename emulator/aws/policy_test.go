package awsemu_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// rootStatement keeps the key administrable by its account, as customers do.
const rootStatement = `{"Sid":"owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`

func policyOf(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

// allow is a statement letting principal (a JSON value) perform actions (a JSON value).
func allow(principal, actions string, extra ...string) string {
	s := `{"Effect":"Allow","Principal":` + principal + `,"Action":` + actions + `,"Resource":"*"`
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

// operation runs one KMS call as client against key (an ARN); ciphertext is
// a blob the key's owner made with the same encryption context.
type operation func(c *kms.Client, key string, ciphertext []byte, encCtx map[string]string) error

var ops = map[string]operation{
	"DescribeKey": func(c *kms.Client, key string, _ []byte, _ map[string]string) error {
		_, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(key)})
		return err
	},
	"GenerateDataKey": func(c *kms.Client, key string, _ []byte, encCtx map[string]string) error {
		_, err := c.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(key), KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx})
		return err
	},
	"GenerateDataKeyWithoutPlaintext": func(c *kms.Client, key string, _ []byte, encCtx map[string]string) error {
		_, err := c.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(key), NumberOfBytes: aws.Int32(16), EncryptionContext: encCtx})
		return err
	},
	"Encrypt": func(c *kms.Client, key string, _ []byte, encCtx map[string]string) error {
		_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x"), EncryptionContext: encCtx})
		return err
	},
	"Decrypt": func(c *kms.Client, _ string, ct []byte, encCtx map[string]string) error {
		_, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: ct, EncryptionContext: encCtx})
		return err
	},
	"ReEncrypt": func(c *kms.Client, key string, ct []byte, encCtx map[string]string) error {
		_, err := c.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: ct, SourceEncryptionContext: encCtx, DestinationKeyId: aws.String(key), DestinationEncryptionContext: encCtx})
		return err
	},
	"CreateGrant": func(c *kms.Client, key string, _ []byte, _ map[string]string) error {
		_, err := c.CreateGrant(bg, &kms.CreateGrantInput{KeyId: aws.String(key), GranteePrincipal: aws.String(auditorUser), Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
		return err
	},
}

func TestKeyPolicy_Evaluation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org1 := map[string]string{"cmekd:org": "org_1"}
	const denied = "AccessDeniedException"
	platform := `{"AWS":"` + platformRole + `"}`
	use := `["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"]`
	cases := []struct {
		name       string
		statements []string
		akid, op   string
		encCtx     map[string]string
		want       string
	}{
		{"default policy refuses other accounts", nil, akidPlatform, "DescribeKey", nil, denied},
		{"default policy admits own account's roles", nil, akidApp, "GenerateDataKey", nil, ""},
		{"use statement: data key", []string{allow(platform, use)}, akidPlatform, "GenerateDataKey", org1, ""},
		{"use statement: decrypt", []string{allow(platform, use)}, akidPlatform, "Decrypt", org1, ""},
		{"use statement: re-encrypt", []string{allow(platform, use)}, akidPlatform, "ReEncrypt", org1, ""},
		{"use statement: not grants", []string{allow(platform, use)}, akidPlatform, "CreateGrant", nil, denied},
		{"wildcard GenerateDataKey*", []string{allow(platform, `"kms:GenerateDataKey*"`)}, akidPlatform, "GenerateDataKeyWithoutPlaintext", nil, ""},
		{"wildcard does not reach Decrypt", []string{allow(platform, `"kms:GenerateDataKey*"`)}, akidPlatform, "Decrypt", nil, denied},
		{"question-mark wildcard", []string{allow(platform, `"kms:?ncrypt"`)}, akidPlatform, "Encrypt", nil, ""},
		{"actions are case-insensitive", []string{allow(platform, `"KMS:describekey"`)}, akidPlatform, "DescribeKey", nil, ""},
		{"bare star action", []string{allow(platform, `"*"`)}, akidPlatform, "DescribeKey", nil, ""},
		{"ReEncrypt needs both halves", []string{allow(platform, `["kms:ReEncryptFrom","kms:Encrypt"]`)}, akidPlatform, "ReEncrypt", nil, denied},
		{"account id admits its users", []string{allow(`{"AWS":"999988887777"}`, `"kms:DescribeKey"`)}, akidAuditor, "DescribeKey", nil, ""},
		{"account root admits its roles", []string{allow(`{"AWS":"arn:aws:iam::999988887777:root"}`, `"kms:DescribeKey"`)}, akidPlatform, "DescribeKey", nil, ""},
		{"exact user admits only that user", []string{allow(`{"AWS":"`+auditorUser+`"}`, `"kms:DescribeKey"`)}, akidPlatform, "DescribeKey", nil, denied},
		{"principal list", []string{allow(`{"AWS":["`+auditorUser+`","`+platformRole+`"]}`, `"kms:DescribeKey"`)}, akidPlatform, "DescribeKey", nil, ""},
		{"star principal", []string{allow(`"*"`, `"kms:DescribeKey"`)}, akidPlatform, "DescribeKey", nil, ""},
		{"AWS star principal", []string{allow(`{"AWS":"*"}`, `"kms:DescribeKey"`)}, akidAuditor, "DescribeKey", nil, ""},
		{"service principal is not a caller", []string{allow(`{"Service":"s3.amazonaws.com"}`, `"kms:*"`)}, akidPlatform, "DescribeKey", nil, denied},
		{"role admits its sessions", []string{allow(platform, `"kms:DescribeKey"`)}, akidSession, "DescribeKey", nil, ""},
		{"resource: key ARN pattern", []string{`{"Effect":"Allow","Principal":` + platform + `,"Action":"kms:DescribeKey","Resource":"arn:aws:kms:us-west-2:111122223333:key/*"}`}, akidPlatform, "DescribeKey", nil, ""},
		{"resource: another key", []string{`{"Effect":"Allow","Principal":` + platform + `,"Action":"kms:DescribeKey","Resource":"arn:aws:kms:us-west-2:111122223333:key/other"}`}, akidPlatform, "DescribeKey", nil, denied},
		{"explicit deny wins", []string{allow(platform, use), `{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}`}, akidPlatform, "Decrypt", org1, denied},
		{"deny elsewhere leaves others", []string{allow(platform, use), `{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}`}, akidPlatform, "GenerateDataKey", org1, ""},
		{"NotAction", []string{`{"Effect":"Allow","Principal":` + platform + `,"NotAction":"kms:Decrypt","Resource":"*"}`}, akidPlatform, "Decrypt", nil, denied},
		{"NotPrincipal deny spares the named", []string{allow(`"*"`, `"kms:DescribeKey"`), `{"Effect":"Deny","NotPrincipal":` + platform + `,"Action":"kms:DescribeKey","Resource":"*"}`}, akidPlatform, "DescribeKey", nil, ""},
		{"context StringEquals holds", []string{allow(platform, use, `"Condition":{"StringEquals":{"kms:EncryptionContext:cmekd:org":"org_1"}}`)}, akidPlatform, "GenerateDataKey", org1, ""},
		{"context StringEquals fails", []string{allow(platform, use, `"Condition":{"StringEquals":{"kms:EncryptionContext:cmekd:org":"org_1"}}`)}, akidPlatform, "GenerateDataKey", map[string]string{"cmekd:org": "org_2"}, denied},
		{"context missing", []string{allow(platform, use, `"Condition":{"StringEquals":{"kms:EncryptionContext:cmekd:org":"org_1"}}`)}, akidPlatform, "GenerateDataKey", nil, denied},
		{"context StringLike", []string{allow(platform, use, `"Condition":{"StringLike":{"kms:EncryptionContext:cmekd:org":"org_*"}}`)}, akidPlatform, "Decrypt", org1, ""},
		{"ViaService never holds for direct calls", []string{allow(platform, use, `"Condition":{"StringEquals":{"kms:ViaService":"s3.us-west-2.amazonaws.com"}}`)}, akidPlatform, "GenerateDataKey", nil, denied},
		{"GrantIsForAWSResource true refuses direct grants", []string{allow(platform, `"kms:CreateGrant"`, `"Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}`)}, akidPlatform, "CreateGrant", nil, denied},
		{"GrantIsForAWSResource as a JSON boolean", []string{allow(platform, `"kms:CreateGrant"`, `"Condition":{"Bool":{"kms:GrantIsForAWSResource":false}}`)}, akidPlatform, "CreateGrant", nil, ""},
		{"ForAllValues keys within", []string{allow(platform, use, `"Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["cmekd:org","cmekd:collection"]}}`)}, akidPlatform, "GenerateDataKey", org1, ""},
		{"ForAllValues extra key", []string{allow(platform, use, `"Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["cmekd:collection"]}}`)}, akidPlatform, "GenerateDataKey", org1, denied},
		{"ForAnyValue has key", []string{allow(platform, use, `"Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"cmekd:org"}}`)}, akidPlatform, "GenerateDataKey", org1, ""},
		{"ForAnyValue without context", []string{allow(platform, use, `"Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"cmekd:org"}}`)}, akidPlatform, "GenerateDataKey", nil, denied},
		{"StringNotEquals on caller account", []string{allow(`"*"`, use, `"Condition":{"StringNotEquals":{"kms:CallerAccount":"111122223333"}}`)}, akidPlatform, "Encrypt", nil, ""},
		{"IfExists without the key", []string{allow(platform, use, `"Condition":{"StringEqualsIfExists":{"kms:EncryptionContext:cmekd:org":"org_1"}}`)}, akidPlatform, "Encrypt", nil, ""},
		{"Null condition", []string{allow(platform, use, `"Condition":{"Null":{"kms:EncryptionContextKeys":"false"}}`)}, akidPlatform, "Encrypt", nil, denied},
		{"unmodelled operator fails an Allow closed", []string{allow(platform, use, `"Condition":{"NumericLessThan":{"kms:RecipientAttestation:ImageSha384":"1"}}`)}, akidPlatform, "DescribeKey", nil, denied},
		{"unmodelled operator fails a Deny closed", []string{allow(platform, use), `{"Effect":"Deny","Principal":"*","Action":"kms:DescribeKey","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`}, akidPlatform, "DescribeKey", nil, denied},
	}
	owner := e.root()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := &kms.CreateKeyInput{}
			if tc.statements != nil {
				in.Policy = aws.String(policyOf(append([]string{rootStatement}, tc.statements...)...))
			}
			md := createKey(t, owner, in)
			enc, err := owner.Encrypt(bg, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("p"), EncryptionContext: tc.encCtx})
			ok(t, err)
			err = ops[tc.op](e.client("us-west-2", tc.akid), *md.Arn, enc.CiphertextBlob, tc.encCtx)
			if got := errCode(err); got != tc.want {
				t.Fatalf("%s: error %v, want %q", tc.op, err, tc.want)
			}
		})
	}
}

func TestAccessDenied_MessageNamesPrincipalActionAndKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	md := createKey(t, e.root(), nil)
	_, err := e.client("us-west-2", akidPlatform).GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: types.DataKeySpecAes256})
	wantCode(t, err, "AccessDeniedException")
	want := "User: " + platformRole + " is not authorized to perform: kms:GenerateDataKey on resource: " + *md.Arn +
		" because no resource-based policy allows the kms:GenerateDataKey action"
	if errMessage(err) != want {
		t.Errorf("message = %q\nwant      %q", errMessage(err), want)
	}
	deny := policyOf(rootStatement, `{"Effect":"Deny","Principal":{"AWS":"`+appRole+`"},"Action":"kms:Encrypt","Resource":"*"}`)
	_, err = e.root().PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: md.KeyId, Policy: aws.String(deny)})
	ok(t, err)
	_, err = e.client("us-west-2", akidApp).Encrypt(bg, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException")
	if !strings.HasSuffix(errMessage(err), "with an explicit deny in a resource-based policy") {
		t.Errorf("message = %q", errMessage(err))
	}
}

func TestCrossAccount_NeedsTheKeyARN(t *testing.T) {
	t.Parallel()
	e := setup(t)
	policy := policyOf(rootStatement, allow(`{"AWS":"`+platformRole+`"}`, `"kms:*"`))
	md := createKey(t, e.root(), &kms.CreateKeyInput{Policy: aws.String(policy)})
	_, err := e.root().CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/shared"), TargetKeyId: md.KeyId})
	ok(t, err)
	platform := e.client("us-west-2", akidPlatform)
	ok(t, roundTrip(platform, *md.Arn, nil))
	ok(t, roundTrip(platform, "arn:aws:kms:us-west-2:111122223333:alias/shared", nil))
	// A bare id or alias name means the caller's own account, where there is no such key.
	_, err = platform.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: md.KeyId})
	wantCode(t, err, "NotFoundException")
	if !strings.Contains(errMessage(err), ":999988887777:") {
		t.Errorf("message = %q, want the caller's account", errMessage(err))
	}
	_, err = platform.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("alias/shared")})
	wantCode(t, err, "NotFoundException")
}
