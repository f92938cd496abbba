package awsemu_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestCreateGrant_PolicyConditionsOnTheGrant: a key policy's CreateGrant statement is judged by the
// grant asked for: kms:GranteePrincipal and kms:RetiringPrincipal (StringEquals), and
// kms:GrantOperations, a multivalued key, with ForAllValues (every operation must be listed: fewer
// pass) and ForAnyValue (one listed is enough). cmekd's grant mode (SPEC §12) depends on it.
func TestCreateGrant_PolicyConditionsOnTheGrant(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.root()
	platform := e.client("us-west-2", akidPlatform)
	statement := func(condition string) string {
		return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},
{"Effect":"Allow","Principal":{"AWS":%q},"Action":"kms:CreateGrant","Resource":"*","Condition":%s}]}`, account, platformRole, condition)
	}
	forAll := statement(fmt.Sprintf(`{"StringEquals":{"kms:GranteePrincipal":%q},
"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt","GenerateDataKey","ReEncryptFrom","ReEncryptTo","DescribeKey"]}}`, auditorUser))
	forAny := statement(`{"ForAnyValue:StringEquals":{"kms:GrantOperations":["Decrypt"]}}`)
	retiring := statement(fmt.Sprintf(`{"StringEquals":{"kms:RetiringPrincipal":%q}}`, platformRole))
	ops := func(names ...string) []types.GrantOperation {
		out := make([]types.GrantOperation, len(names))
		for i, n := range names {
			out[i] = types.GrantOperation(n)
		}
		return out
	}
	for _, tc := range []struct {
		name, policy, grantee, retiring string
		ops                             []types.GrantOperation
		want                            string // "" allowed, else the error
	}{
		{"every listed operation", forAll, auditorUser, "", ops("Encrypt", "Decrypt", "GenerateDataKey", "ReEncryptFrom", "ReEncryptTo", "DescribeKey"), ""},
		{"fewer operations", forAll, auditorUser, "", ops("Decrypt"), ""},
		{"an operation not listed", forAll, auditorUser, "", ops("Decrypt", "CreateGrant"), "AccessDeniedException"},
		{"RetireGrant not listed", forAll, auditorUser, "", ops("Decrypt", "RetireGrant"), "AccessDeniedException"},
		{"another grantee", forAll, platformRole, "", ops("Decrypt"), "AccessDeniedException"},
		{"the grantee's account root", forAll, "arn:aws:iam::999988887777:root", "", ops("Decrypt"), "AccessDeniedException"},
		{"any value: one listed", forAny, auditorUser, "", ops("Decrypt", "Encrypt"), ""},
		{"any value: none listed", forAny, auditorUser, "", ops("Encrypt"), "AccessDeniedException"},
		{"retiring principal as listed", retiring, auditorUser, platformRole, ops("Decrypt"), ""},
		{"another retiring principal", retiring, auditorUser, auditorUser, ops("Decrypt"), "AccessDeniedException"},
		{"no retiring principal", retiring, auditorUser, "", ops("Decrypt"), "AccessDeniedException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := createKey(t, owner, &kms.CreateKeyInput{Policy: aws.String(tc.policy)})
			in := &kms.CreateGrantInput{KeyId: md.Arn, GranteePrincipal: aws.String(tc.grantee), Operations: tc.ops}
			if tc.retiring != "" {
				in.RetiringPrincipal = aws.String(tc.retiring)
			}
			_, err := platform.CreateGrant(bg, in)
			if tc.want == "" {
				ok(t, err)
				return
			}
			wantCode(t, err, tc.want)
		})
	}
}
