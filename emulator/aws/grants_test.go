package awsemu_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestGrant_AllowsItsOperationsOnly(t *testing.T) {
	t.Parallel()
	e, owner, md := rootKey(t)
	platform := e.client("us-west-2", akidPlatform)
	ctx := map[string]string{"cmekd:org": "org_1"}
	_, err := platform.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: types.DataKeySpecAes256})
	wantCode(t, err, "AccessDeniedException")

	// ingest creates the grant named cmekd-ingest of ops to the platform role on keyID.
	ingest := func(keyID *string, ops ...types.GrantOperation) *kms.CreateGrantOutput {
		t.Helper()
		g, err := owner.CreateGrant(bg, &kms.CreateGrantInput{
			KeyId: keyID, GranteePrincipal: aws.String(platformRole), RetiringPrincipal: aws.String(auditorUser),
			Operations: ops, Name: aws.String("cmekd-ingest"),
		})
		ok(t, err)
		return g
	}
	g := ingest(md.KeyId, types.GrantOperationGenerateDataKey, types.GrantOperationDecrypt)
	if len(*g.GrantId) != 64 || *g.GrantToken == "" {
		t.Fatalf("CreateGrant = %q %q", *g.GrantId, *g.GrantToken)
	}
	ok(t, roundTrip(platform, *md.Arn, ctx))
	ok(t, roundTrip(e.client("us-west-2", akidSession), *md.Arn, ctx)) // a session of the grantee role
	_, err = platform.Encrypt(bg, &kms.EncryptInput{KeyId: md.Arn, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException")
	_, err = platform.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: md.Arn})
	wantCode(t, err, "AccessDeniedException")
	_, err = e.client("us-west-2", akidAuditor).GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: types.DataKeySpecAes256})
	wantCode(t, err, "AccessDeniedException")

	// The same named grant again is the same grant.
	again := ingest(md.Arn, types.GrantOperationDecrypt, types.GrantOperationGenerateDataKey)
	if *again.GrantId != *g.GrantId {
		t.Errorf("named grant not idempotent: %s then %s", *g.GrantId, *again.GrantId)
	}

	list, err := owner.ListGrants(bg, &kms.ListGrantsInput{KeyId: md.KeyId})
	ok(t, err)
	if len(list.Grants) != 1 || list.Truncated {
		t.Fatalf("ListGrants = %+v", list)
	}
	got := list.Grants[0]
	if *got.GrantId != *g.GrantId || *got.KeyId != *md.Arn || *got.Name != "cmekd-ingest" ||
		*got.GranteePrincipal != platformRole || *got.RetiringPrincipal != auditorUser ||
		*got.IssuingAccount != "arn:aws:iam::111122223333:root" || !got.CreationDate.Equal(e.clock.Now()) ||
		!slices.Equal(got.Operations, []types.GrantOperation{"Decrypt", "GenerateDataKey"}) || got.Constraints != nil {
		t.Errorf("grant entry = %+v", got)
	}

	// The grantee holds no RetireGrant operation; the retiring principal retires.
	_, err = platform.RetireGrant(bg, &kms.RetireGrantInput{GrantToken: g.GrantToken})
	wantCode(t, err, "AccessDeniedException")
	_, err = e.client("us-west-2", akidAuditor).RetireGrant(bg, &kms.RetireGrantInput{GrantToken: g.GrantToken})
	ok(t, err)
	_, err = platform.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: types.DataKeySpecAes256})
	wantCode(t, err, "AccessDeniedException")
	_, err = owner.RetireGrant(bg, &kms.RetireGrantInput{GrantToken: g.GrantToken})
	wantCode(t, err, "InvalidGrantTokenException")
	_, err = owner.RetireGrant(bg, &kms.RetireGrantInput{GrantToken: again.GrantToken})
	wantCode(t, err, "InvalidGrantTokenException") // every token of the grant went with it
}

func TestGrant_Constraints(t *testing.T) {
	t.Parallel()
	e, owner, md := rootKey(t)
	platform := e.client("us-west-2", akidPlatform)
	gdk := []types.GrantOperation{types.GrantOperationGenerateDataKey, types.GrantOperationDecrypt}
	_, err := owner.CreateGrant(bg, &kms.CreateGrantInput{
		KeyId: md.KeyId, GranteePrincipal: aws.String(platformRole), Operations: gdk,
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"cmekd:org": "org_1"}},
	})
	ok(t, err)
	ok(t, roundTrip(platform, *md.Arn, map[string]string{"cmekd:org": "org_1", "cmekd:collection": "c"}))
	wantCode(t, roundTrip(platform, *md.Arn, map[string]string{"cmekd:org": "org_2"}), "AccessDeniedException")
	wantCode(t, roundTrip(platform, *md.Arn, nil), "AccessDeniedException")

	exact := createKey(t, owner, nil)
	_, err = owner.CreateGrant(bg, &kms.CreateGrantInput{
		KeyId: exact.KeyId, GranteePrincipal: aws.String(platformRole), Operations: gdk,
		Constraints: &types.GrantConstraints{EncryptionContextEquals: map[string]string{"cmekd:org": "org_1"}},
	})
	ok(t, err)
	ok(t, roundTrip(platform, *exact.Arn, map[string]string{"cmekd:org": "org_1"}))
	wantCode(t, roundTrip(platform, *exact.Arn, map[string]string{"cmekd:org": "org_1", "x": "y"}), "AccessDeniedException")

	list, err := owner.ListGrants(bg, &kms.ListGrantsInput{KeyId: exact.Arn})
	ok(t, err)
	if c := list.Grants[0].Constraints; c == nil || c.EncryptionContextEquals["cmekd:org"] != "org_1" || c.EncryptionContextSubset != nil {
		t.Errorf("constraints listed as %+v", c)
	}
	// Operations that take no context cannot carry a constraint, except the three AWS allows.
	_, err = owner.CreateGrant(bg, &kms.CreateGrantInput{
		KeyId: exact.KeyId, GranteePrincipal: aws.String(platformRole), Operations: []types.GrantOperation{types.GrantOperationSign},
		Constraints: &types.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "b"}},
	})
	wantCode(t, err, "ValidationException")
}

func TestGrant_RetireByIDRevokeAndErrors(t *testing.T) {
	t.Parallel()
	e, owner, md := rootKey(t)
	platform := e.client("us-west-2", akidPlatform)
	mk := func(ops ...types.GrantOperation) *kms.CreateGrantOutput {
		out, err := owner.CreateGrant(bg, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String(platformRole), Operations: ops})
		ok(t, err)
		return out
	}
	self := mk(types.GrantOperationDescribeKey, types.GrantOperationRetireGrant, types.GrantOperationCreateGrant)
	describe(t, platform, *md.Arn)
	// A grant with CreateGrant lets its grantee pass permissions on.
	_, err := platform.CreateGrant(bg, &kms.CreateGrantInput{KeyId: md.Arn, GranteePrincipal: aws.String(auditorUser), Operations: []types.GrantOperation{types.GrantOperationDescribeKey}})
	ok(t, err)
	describe(t, e.client("us-west-2", akidAuditor), *md.Arn)
	// The grantee may retire a grant that includes RetireGrant, by key and grant id.
	_, err = platform.RetireGrant(bg, &kms.RetireGrantInput{KeyId: md.Arn, GrantId: self.GrantId})
	ok(t, err)
	_, err = platform.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: md.Arn})
	wantCode(t, err, "AccessDeniedException")

	revoked := mk(types.GrantOperationEncrypt)
	_, err = platform.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: md.Arn, GrantId: revoked.GrantId})
	wantCode(t, err, "AccessDeniedException") // revoking is the key administrator's
	_, err = owner.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: md.KeyId, GrantId: revoked.GrantId, DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperationException")
	_, err = owner.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: md.KeyId, GrantId: revoked.GrantId})
	ok(t, err)
	_, err = owner.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: md.KeyId, GrantId: revoked.GrantId})
	wantCode(t, err, "NotFoundException")
	_, err = owner.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: md.KeyId, GrantId: aws.String("not-a-grant-id")})
	wantCode(t, err, "InvalidGrantIdException")
	_, err = owner.RetireGrant(bg, &kms.RetireGrantInput{GrantToken: aws.String("bogus")})
	wantCode(t, err, "InvalidGrantTokenException")
	_, err = owner.RetireGrant(bg, &kms.RetireGrantInput{GrantId: revoked.GrantId})
	wantCode(t, err, "ValidationException")

	// The key's account retires any grant.
	last := mk(types.GrantOperationDecrypt)
	_, err = owner.RetireGrant(bg, &kms.RetireGrantInput{GrantToken: last.GrantToken})
	ok(t, err)
	list, err := owner.ListGrants(bg, &kms.ListGrantsInput{KeyId: md.KeyId})
	ok(t, err)
	if len(list.Grants) != 1 || *list.Grants[0].GranteePrincipal != auditorUser {
		t.Errorf("remaining grants = %+v", list.Grants)
	}

	for name, in := range map[string]*kms.CreateGrantInput{
		"unknown operation": {KeyId: md.KeyId, GranteePrincipal: aws.String(platformRole), Operations: []types.GrantOperation{"Destroy"}},
		"bad grantee":       {KeyId: md.KeyId, GranteePrincipal: aws.String("bob"), Operations: []types.GrantOperation{"Decrypt"}},
		"bad name":          {KeyId: md.KeyId, GranteePrincipal: aws.String(platformRole), Operations: []types.GrantOperation{"Decrypt"}, Name: aws.String("no spaces")},
	} {
		if _, err := owner.CreateGrant(bg, in); errCode(err) != "ValidationException" {
			t.Errorf("%s: %v, want ValidationException", name, err)
		}
	}
	_, err = owner.DisableKey(bg, &kms.DisableKeyInput{KeyId: md.KeyId})
	ok(t, err)
	_, err = owner.CreateGrant(bg, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String(platformRole), Operations: []types.GrantOperation{"Decrypt"}})
	wantCode(t, err, "DisabledException")
}

func TestListGrants_FiltersAndPages(t *testing.T) {
	t.Parallel()
	e, owner, md := rootKey(t)
	var ids []string
	for _, grantee := range []string{platformRole, auditorUser, platformRole} {
		g, err := owner.CreateGrant(bg, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String(grantee), Operations: []types.GrantOperation{"Decrypt"}})
		ok(t, err)
		ids = append(ids, *g.GrantId)
	}
	var seen []string
	var marker *string
	for {
		out, err := owner.ListGrants(bg, &kms.ListGrantsInput{KeyId: md.KeyId, Limit: aws.Int32(2), Marker: marker})
		ok(t, err)
		for _, g := range out.Grants {
			seen = append(seen, *g.GrantId)
		}
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	if !slices.Equal(seen, ids) {
		t.Errorf("paged grants = %v, want %v", seen, ids)
	}
	byGrantee, err := owner.ListGrants(bg, &kms.ListGrantsInput{KeyId: md.KeyId, GranteePrincipal: aws.String(platformRole)})
	ok(t, err)
	byID, err := owner.ListGrants(bg, &kms.ListGrantsInput{KeyId: md.KeyId, GrantId: aws.String(ids[1])})
	ok(t, err)
	if len(byGrantee.Grants) != 2 || len(byID.Grants) != 1 || !strings.EqualFold(*byID.Grants[0].GranteePrincipal, auditorUser) {
		t.Errorf("filters: %d by grantee, %+v by id", len(byGrantee.Grants), byID.Grants)
	}
	_, err = e.client("us-west-2", akidPlatform).ListGrants(bg, &kms.ListGrantsInput{KeyId: md.Arn})
	wantCode(t, err, "AccessDeniedException")
}

// TestCreateGrant_PolicyConditionsOnTheGrant: a key policy's CreateGrant statement is judged by the
// grant asked for: kms:GranteePrincipal and kms:RetiringPrincipal (StringEquals), and
// kms:GrantOperations, a multivalued key, with ForAllValues (every operation must be listed: fewer
// pass) and ForAnyValue (one listed is enough). cmekd's grant mode depends on it.
func TestCreateGrant_PolicyConditionsOnTheGrant(t *testing.T) {
	t.Parallel()
	_, owner, platform := ownerAndPlatform(t)
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
