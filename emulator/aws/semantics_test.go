package awsemu_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	awsemu "github.com/cmekd/cmekd/emulator/aws"
)

// platformAdminPolicy lets the platform (another account) do everything the
// key policy can let it do.
var platformAdminPolicy = policyOf(rootStatement, allow(`{"AWS":"`+platformRole+`"}`, `"kms:*"`))

func TestCrossAccount_AdministrationRefusedWhateverThePolicy(t *testing.T) {
	t.Parallel()
	e := setup(t)
	md := createKey(t, e.root(), &kms.CreateKeyInput{Policy: aws.String(platformAdminPolicy)})
	platform := e.client("us-west-2", akidPlatform)
	key := md.Arn
	tests := []struct {
		op   string
		call func() error
		want string // "" = allowed across accounts, as AWS documents
	}{
		{"DisableKey", func() error { _, err := platform.DisableKey(bg, &kms.DisableKeyInput{KeyId: key}); return err }, "AccessDeniedException"},
		{"EnableKey", func() error { _, err := platform.EnableKey(bg, &kms.EnableKeyInput{KeyId: key}); return err }, "AccessDeniedException"},
		{"PutKeyPolicy", func() error {
			_, err := platform.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: key, Policy: aws.String(platformAdminPolicy)})
			return err
		}, "AccessDeniedException"},
		{"GetKeyPolicy", func() error { _, err := platform.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: key}); return err }, "AccessDeniedException"},
		{"ScheduleKeyDeletion", func() error {
			_, err := platform.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: key, PendingWindowInDays: aws.Int32(7)})
			return err
		}, "AccessDeniedException"},
		{"TagResource", func() error {
			_, err := platform.TagResource(bg, &kms.TagResourceInput{KeyId: key, Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}})
			return err
		}, "AccessDeniedException"},
		{"UpdateKeyDescription", func() error {
			_, err := platform.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: key, Description: aws.String("mine now")})
			return err
		}, "AccessDeniedException"},
		{"EnableKeyRotation", func() error {
			_, err := platform.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: key})
			return err
		}, "AccessDeniedException"},
		{"ReplicateKey", func() error {
			_, err := platform.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: key, ReplicaRegion: aws.String("eu-west-1")})
			return err
		}, "AccessDeniedException"},
		{"DescribeKey", func() error { _, err := platform.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: key}); return err }, ""},
		{"GenerateDataKey", func() error {
			_, err := platform.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: key, KeySpec: types.DataKeySpecAes256})
			return err
		}, ""},
		{"GetKeyRotationStatus", func() error {
			_, err := platform.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: key})
			return err
		}, ""},
		{"ListGrants", func() error { _, err := platform.ListGrants(bg, &kms.ListGrantsInput{KeyId: key}); return err }, ""},
	}
	for _, tc := range tests {
		wantCode(t, tc.call(), tc.want)
	}
	got := describe(t, e.root(), *md.KeyId)
	if got.KeyState != types.KeyStateEnabled || aws.ToString(got.Description) != "" || got.DeletionDate != nil {
		t.Errorf("the refused calls changed the key: %+v", got)
	}
}

// grantOps is a helper for readable grant operation lists.
func grantOps(ops ...types.GrantOperation) []types.GrantOperation { return ops }

func TestGrant_MadeThroughAGrantIsBoundedByIt(t *testing.T) {
	t.Parallel()
	_, owner, platform := ownerAndPlatform(t)
	subset := func(m map[string]string) *types.GrantConstraints {
		return &types.GrantConstraints{EncryptionContextSubset: m}
	}
	equals := func(m map[string]string) *types.GrantConstraints {
		return &types.GrantConstraints{EncryptionContextEquals: m}
	}
	acme := map[string]string{"tenant": "acme"}
	tests := []struct {
		name        string
		parentOps   []types.GrantOperation
		parent      *types.GrantConstraints
		grantee     string
		childOps    []types.GrantOperation
		child       *types.GrantConstraints
		wantAllowed bool
	}{
		{"a parent operation to a third party", grantOps("Encrypt", "CreateGrant"), nil, auditorUser, grantOps("Encrypt"), nil, true},
		{"an operation the parent lacks, to itself", grantOps("Encrypt", "CreateGrant"), nil, platformRole, grantOps("Decrypt"), nil, false},
		{"an operation the parent lacks, to a third party", grantOps("Encrypt", "CreateGrant"), nil, auditorUser, grantOps("Encrypt", "Decrypt"), nil, false},
		{"CreateGrant onwards", grantOps("Encrypt", "CreateGrant"), nil, auditorUser, grantOps("Encrypt", "CreateGrant"), nil, true},
		{"without the parent's subset", grantOps("Decrypt", "CreateGrant"), subset(acme), auditorUser, grantOps("Decrypt"), nil, false},
		{"the same subset", grantOps("Decrypt", "CreateGrant"), subset(acme), auditorUser, grantOps("Decrypt"), subset(acme), true},
		{"a larger subset", grantOps("Decrypt", "CreateGrant"), subset(acme), auditorUser, grantOps("Decrypt"), subset(map[string]string{"tenant": "acme", "doc": "1"}), true},
		{"the subset, its key in another case", grantOps("Decrypt", "CreateGrant"), subset(acme), auditorUser, grantOps("Decrypt"), subset(map[string]string{"TENANT": "acme"}), true},
		{"the subset, its value in another case", grantOps("Decrypt", "CreateGrant"), subset(acme), auditorUser, grantOps("Decrypt"), subset(map[string]string{"tenant": "ACME"}), false},
		{"another tenant", grantOps("Decrypt", "CreateGrant"), subset(acme), auditorUser, grantOps("Decrypt"), subset(map[string]string{"tenant": "globex"}), false},
		{"an exact context within the subset", grantOps("Decrypt", "CreateGrant"), subset(acme), auditorUser, grantOps("Decrypt"), equals(map[string]string{"tenant": "acme", "doc": "1"}), true},
		{"an exact context outside the subset", grantOps("Decrypt", "CreateGrant"), subset(acme), auditorUser, grantOps("Decrypt"), equals(map[string]string{"doc": "1"}), false},
		{"the parent's exact context", grantOps("Decrypt", "CreateGrant"), equals(acme), auditorUser, grantOps("Decrypt"), equals(acme), true},
		{"a subset under an exact parent", grantOps("Decrypt", "CreateGrant"), equals(acme), auditorUser, grantOps("Decrypt"), subset(acme), false},
		{"another exact context", grantOps("Decrypt", "CreateGrant"), equals(acme), auditorUser, grantOps("Decrypt"), equals(map[string]string{"tenant": "acme", "doc": "1"}), false},
	}
	for _, tc := range tests {
		md := createKey(t, owner, nil)
		_, err := owner.CreateGrant(bg, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String(platformRole),
			Operations: tc.parentOps, Constraints: tc.parent})
		ok(t, err)
		_, err = platform.CreateGrant(bg, &kms.CreateGrantInput{KeyId: md.Arn, GranteePrincipal: aws.String(tc.grantee),
			Operations: tc.childOps, Constraints: tc.child})
		want := "AccessDeniedException"
		if tc.wantAllowed {
			want = ""
		}
		if errCode(err) != want {
			t.Errorf("%s: CreateGrant through the grant: %q (%v), want %q", tc.name, errCode(err), err, want)
		}
		grants, err := owner.ListGrants(bg, &kms.ListGrantsInput{KeyId: md.KeyId})
		ok(t, err)
		if n := len(grants.Grants); (n == 2) != tc.wantAllowed {
			t.Errorf("%s: %d grants on the key", tc.name, n)
		}
	}
}

func TestGrantTokens_Checked(t *testing.T) {
	t.Parallel()
	_, owner, platform := ownerAndPlatform(t)
	md := createKey(t, owner, nil)
	bogus := []string{"AQbogus", "not-a-token", "AQ" + string(make([]byte, 10))}
	for _, tok := range bogus {
		_, err := owner.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: md.KeyId, GrantTokens: []string{tok}})
		wantCode(t, err, "InvalidGrantTokenException")
		_, err = owner.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256, GrantTokens: []string{tok}})
		wantCode(t, err, "InvalidGrantTokenException")
		_, err = owner.CreateGrant(bg, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String(platformRole),
			Operations: grantOps("Decrypt"), GrantTokens: []string{tok}})
		wantCode(t, err, "InvalidGrantTokenException")
	}
	// A token the emulator issued, with a character changed, is forged.
	g, err := owner.CreateGrant(bg, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String(platformRole),
		Operations: grantOps("GenerateDataKey", "Decrypt")})
	ok(t, err)
	tok := *g.GrantToken
	swap := "A"
	if tok[40] == 'A' {
		swap = "B"
	}
	forged := tok[:40] + swap + tok[41:]
	_, err = platform.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: types.DataKeySpecAes256, GrantTokens: []string{forged}})
	wantCode(t, err, "InvalidGrantTokenException")
	// The genuine token lets the just-created grant be used at once.
	dk, err := platform.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: md.Arn, KeySpec: types.DataKeySpecAes256, GrantTokens: []string{tok}})
	ok(t, err)
	_, err = platform.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, GrantTokens: []string{tok}})
	ok(t, err)
	// Once the grant is revoked its token is still a token, but it admits nothing.
	_, err = owner.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: md.KeyId, GrantId: g.GrantId})
	ok(t, err)
	_, err = platform.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, GrantTokens: []string{tok}})
	wantCode(t, err, "AccessDeniedException")
}

func TestEncryptionContext_KeysMatchWithoutRegardToCaseValuesWithIt(t *testing.T) {
	t.Parallel()
	_, owner, platform := ownerAndPlatform(t)
	condition := `"Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"acme"}}`
	allowAcme := createKey(t, owner, &kms.CreateKeyInput{Policy: aws.String(policyOf(rootStatement,
		allow(`{"AWS":"`+platformRole+`"}`, `["kms:GenerateDataKey","kms:Decrypt"]`, condition)))})
	denyAcme := createKey(t, owner, &kms.CreateKeyInput{Policy: aws.String(policyOf(rootStatement,
		allow(`{"AWS":"`+platformRole+`"}`, `["kms:GenerateDataKey","kms:Decrypt"]`),
		`{"Effect":"Deny","Principal":{"AWS":"`+platformRole+`"},"Action":"kms:*","Resource":"*",`+condition+`}`))})
	subsetKey := createKey(t, owner, nil)
	_, err := owner.CreateGrant(bg, &kms.CreateGrantInput{KeyId: subsetKey.KeyId, GranteePrincipal: aws.String(platformRole),
		Operations: grantOps("GenerateDataKey", "Decrypt"), Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "acme"}}})
	ok(t, err)
	equalsKey := createKey(t, owner, nil)
	_, err = owner.CreateGrant(bg, &kms.CreateGrantInput{KeyId: equalsKey.KeyId, GranteePrincipal: aws.String(platformRole),
		Operations: grantOps("GenerateDataKey", "Decrypt"), Constraints: &types.GrantConstraints{EncryptionContextEquals: map[string]string{"tenant": "acme"}}})
	ok(t, err)

	tests := []struct {
		name                                      string
		encCtx                                    map[string]string
		policyAllows, denyApplies, subset, equals bool
	}{
		{"the exact key and value", map[string]string{"tenant": "acme"}, true, true, true, true},
		{"the key in capitals", map[string]string{"TENANT": "acme"}, true, true, true, true},
		{"the value in capitals", map[string]string{"tenant": "ACME"}, false, false, false, false},
		{"another value", map[string]string{"tenant": "globex"}, false, false, false, false},
		{"two cases, both acme", map[string]string{"Tenant": "acme", "tenant": "acme"}, true, true, true, false},
		// Keys that differ only by case: an Allow needs every one to match, a Deny any one.
		{"two cases, acme and globex", map[string]string{"Tenant": "acme", "tenant": "globex"}, false, true, false, false},
		{"two cases, globex and acme", map[string]string{"Tenant": "globex", "tenant": "acme"}, false, true, false, false},
	}
	for _, tc := range tests {
		// Map order must not matter: the answer is the same every time.
		for range 20 {
			check := func(key string, want bool) {
				err := roundTrip(platform, key, tc.encCtx)
				if got := err == nil; got != want {
					t.Fatalf("%s on %s: allowed %v (%v), want %v", tc.name, key, got, err, want)
				}
			}
			check(*allowAcme.Arn, tc.policyAllows)
			check(*denyAcme.Arn, !tc.denyApplies)
			check(*subsetKey.Arn, tc.subset)
			check(*equalsKey.Arn, tc.equals)
		}
	}

	// The ciphertext is bound to the exact context: the key's case counts when decrypting.
	dk, err := platform.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: subsetKey.Arn, KeySpec: types.DataKeySpecAes256,
		EncryptionContext: map[string]string{"TENANT": "acme"}})
	ok(t, err)
	_, err = platform.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: map[string]string{"tenant": "acme"}})
	wantCode(t, err, "InvalidCiphertextException")
}

func TestGrant_ConstraintsAllowedWithDescribeKeyRetireGrantCreateGrant(t *testing.T) {
	t.Parallel()
	_, owner, platform := ownerAndPlatform(t)
	md := createKey(t, owner, nil)
	g, err := owner.CreateGrant(bg, &kms.CreateGrantInput{KeyId: md.KeyId, GranteePrincipal: aws.String(platformRole),
		Operations:  grantOps("Decrypt", "GenerateDataKey", "DescribeKey", "RetireGrant", "CreateGrant"),
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "acme"}}})
	ok(t, err)
	// The constraint does not apply to the operations that take no context.
	if got := describe(t, platform, *md.Arn); *got.Arn != *md.Arn {
		t.Fatalf("DescribeKey through the grant = %+v", got)
	}
	ok(t, roundTrip(platform, *md.Arn, map[string]string{"tenant": "acme"}))
	wantCode(t, roundTrip(platform, *md.Arn, nil), "AccessDeniedException")
	_, err = platform.CreateGrant(bg, &kms.CreateGrantInput{KeyId: md.Arn, GranteePrincipal: aws.String(auditorUser),
		Operations: grantOps("DescribeKey"), Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "acme"}}})
	ok(t, err)
	_, err = platform.RetireGrant(bg, &kms.RetireGrantInput{KeyId: md.Arn, GrantId: g.GrantId})
	ok(t, err)
	_, err = platform.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: md.Arn})
	wantCode(t, err, "AccessDeniedException")
}

func TestMultiRegionPrimary_WaitsInPendingReplicaDeletion(t *testing.T) {
	t.Parallel()
	e := setup(t)
	east, eu := e.client("us-east-1", akidRoot), e.client("eu-west-1", akidRoot)
	md := createKey(t, east, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	_, err := east.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: aws.String("eu-west-1")})
	ok(t, err)

	sched, err := east.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)})
	ok(t, err)
	if sched.KeyState != types.KeyStatePendingReplicaDeletion || sched.DeletionDate != nil || *sched.PendingWindowInDays != 7 {
		t.Fatalf("ScheduleKeyDeletion of a primary with a replica = %+v", sched)
	}
	got := describe(t, east, *md.KeyId)
	if got.KeyState != types.KeyStatePendingReplicaDeletion || got.DeletionDate != nil || aws.ToInt32(got.PendingDeletionWindowInDays) != 7 || got.Enabled {
		t.Fatalf("primary = %+v", got)
	}
	wantCode(t, roundTrip(east, *md.KeyId, nil), "KMSInvalidStateException")
	ok(t, roundTrip(eu, *md.KeyId, nil)) // the replica still works
	e.clock.Advance(60 * 24 * time.Hour)
	if got := describe(t, east, *md.KeyId); got.KeyState != types.KeyStatePendingReplicaDeletion {
		t.Fatalf("after 60 days with its replica: %s", got.KeyState)
	}

	// The replica goes in 7 days; then the primary's own 7 days start.
	_, err = eu.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)})
	ok(t, err)
	replicaGone := e.clock.Now().Add(7 * 24 * time.Hour)
	e.clock.Advance(7 * 24 * time.Hour)
	_, err = eu.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: md.KeyId})
	wantCode(t, err, "NotFoundException")
	got = describe(t, east, *md.KeyId)
	if got.KeyState != types.KeyStatePendingDeletion || got.DeletionDate == nil || !got.DeletionDate.Equal(replicaGone.Add(7*24*time.Hour)) ||
		len(got.MultiRegionConfiguration.ReplicaKeys) != 0 {
		t.Fatalf("primary once its replica is gone = %+v", got)
	}
	e.clock.Advance(7 * 24 * time.Hour)
	_, err = east.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: md.KeyId})
	wantCode(t, err, "NotFoundException")

	// A cancelled PendingReplicaDeletion leaves the primary disabled, as any cancelled deletion.
	other := createKey(t, east, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	_, err = east.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: other.KeyId, ReplicaRegion: aws.String("eu-west-1")})
	ok(t, err)
	_, err = east.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: other.KeyId})
	ok(t, err)
	_, err = east.CancelKeyDeletion(bg, &kms.CancelKeyDeletionInput{KeyId: other.KeyId})
	ok(t, err)
	if got := describe(t, east, *other.KeyId); got.KeyState != types.KeyStateDisabled || got.PendingDeletionWindowInDays != nil {
		t.Fatalf("after cancel = %+v", got)
	}
}

func TestReplica_CreatingThenEnabledAfterTheDelay(t *testing.T) {
	t.Parallel()
	e := setupWith(t, awsemu.Options{ReplicaDelay: 3 * time.Second})
	east, eu := e.client("us-east-1", akidRoot), e.client("eu-west-1", akidRoot)
	md := createKey(t, east, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	out, err := east.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: md.KeyId, ReplicaRegion: aws.String("eu-west-1")})
	ok(t, err)
	if out.ReplicaKeyMetadata.KeyState != types.KeyStateCreating || out.ReplicaKeyMetadata.Enabled {
		t.Fatalf("ReplicateKey = %+v", out.ReplicaKeyMetadata)
	}
	wantCode(t, roundTrip(eu, *md.KeyId, nil), "KMSInvalidStateException")
	_, err = eu.DisableKey(bg, &kms.DisableKeyInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	e.clock.Advance(3*time.Second - time.Millisecond)
	if got := describe(t, eu, *md.KeyId); got.KeyState != types.KeyStateCreating {
		t.Fatalf("a moment early: %s", got.KeyState)
	}
	e.clock.Advance(time.Millisecond)
	if got := describe(t, eu, *md.KeyId); got.KeyState != types.KeyStateEnabled || !got.Enabled {
		t.Fatalf("after the delay: %+v", got)
	}
	ok(t, roundTrip(eu, *md.KeyId, nil))
}

func TestTags_TagListUntag(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.root()
	md := createKey(t, c, &kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("data")}}})
	tags := func() map[string]string {
		t.Helper()
		got := map[string]string{}
		p := kms.NewListResourceTagsPaginator(c, &kms.ListResourceTagsInput{KeyId: md.KeyId, Limit: aws.Int32(1)})
		for p.HasMorePages() {
			page, err := p.NextPage(bg)
			ok(t, err)
			for _, tg := range page.Tags {
				got[*tg.TagKey] = *tg.TagValue
			}
		}
		return got
	}
	if got := tags(); !maps.Equal(got, map[string]string{"team": "data"}) {
		t.Fatalf("tags after CreateKey = %v", got)
	}
	_, err := c.TagResource(bg, &kms.TagResourceInput{KeyId: md.Arn, Tags: []types.Tag{
		{TagKey: aws.String("team"), TagValue: aws.String("platform")}, {TagKey: aws.String("env"), TagValue: aws.String("")}}})
	ok(t, err)
	if got := tags(); !maps.Equal(got, map[string]string{"team": "platform", "env": ""}) {
		t.Fatalf("tags after TagResource = %v", got)
	}
	_, err = c.UntagResource(bg, &kms.UntagResourceInput{KeyId: md.KeyId, TagKeys: []string{"team", "absent"}})
	ok(t, err)
	if got := tags(); !maps.Equal(got, map[string]string{"env": ""}) {
		t.Fatalf("tags after UntagResource = %v", got)
	}
	_, err = c.TagResource(bg, &kms.TagResourceInput{KeyId: md.KeyId, Tags: []types.Tag{{TagKey: aws.String("aws:x"), TagValue: aws.String("y")}}})
	wantCode(t, err, "TagException")
	_, err = c.TagResource(bg, &kms.TagResourceInput{KeyId: aws.String("alias/aws/cmekd-test"), Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}})
	wantCode(t, err, "NotFoundException") // TagResource takes a key id or ARN, not an alias
	_, err = c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId})
	ok(t, err)
	_, err = c.TagResource(bg, &kms.TagResourceInput{KeyId: md.KeyId, Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}})
	wantCode(t, err, "KMSInvalidStateException")
}

func TestAliases_UpdateAndDelete(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.root()
	first, second := createKey(t, c, nil), createKey(t, c, nil)
	_, err := c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: first.KeyId})
	ok(t, err)
	e.clock.Advance(time.Minute)
	_, err = c.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: second.Arn})
	ok(t, err)
	if got := describe(t, c, "alias/app"); *got.KeyId != *second.KeyId {
		t.Fatalf("alias names %s after UpdateAlias, want %s", *got.KeyId, *second.KeyId)
	}
	list, err := c.ListAliases(bg, &kms.ListAliasesInput{KeyId: second.KeyId})
	ok(t, err)
	if len(list.Aliases) != 1 || !list.Aliases[0].LastUpdatedDate.Equal(e.clock.Now()) || list.Aliases[0].CreationDate.Equal(e.clock.Now()) {
		t.Fatalf("ListAliases = %+v", list.Aliases)
	}
	hmac := createKey(t, c, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	_, err = c.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: hmac.KeyId})
	wantCode(t, err, "ValidationException") // an alias stays on keys of one type
	_, err = c.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/none"), TargetKeyId: first.KeyId})
	wantCode(t, err, "NotFoundException")
	_, err = c.DeleteAlias(bg, &kms.DeleteAliasInput{AliasName: aws.String("alias/app")})
	ok(t, err)
	_, err = c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("alias/app")})
	wantCode(t, err, "NotFoundException")
	_, err = c.DeleteAlias(bg, &kms.DeleteAliasInput{AliasName: aws.String("alias/app")})
	wantCode(t, err, "NotFoundException")
	_, err = c.DeleteAlias(bg, &kms.DeleteAliasInput{AliasName: aws.String("alias/aws/cmekd-test")})
	wantCode(t, err, "InvalidAliasNameException")
}

func TestKeyAdministration_DescriptionRotationPolicies(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.root()
	md := createKey(t, c, &kms.CreateKeyInput{Description: aws.String("before")})
	_, err := c.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: md.KeyId, Description: aws.String("after")})
	ok(t, err)
	if got := describe(t, c, *md.KeyId); aws.ToString(got.Description) != "after" {
		t.Errorf("description = %q", aws.ToString(got.Description))
	}
	_, err = c.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: md.KeyId})
	ok(t, err)
	_, err = c.DisableKeyRotation(bg, &kms.DisableKeyRotationInput{KeyId: md.KeyId})
	ok(t, err)
	st, err := c.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: md.KeyId})
	ok(t, err)
	if st.KeyRotationEnabled || st.RotationPeriodInDays != nil || st.NextRotationDate != nil {
		t.Errorf("rotation after DisableKeyRotation = %+v", st)
	}
	pols, err := c.ListKeyPolicies(bg, &kms.ListKeyPoliciesInput{KeyId: md.Arn})
	ok(t, err)
	if !slices.Equal(pols.PolicyNames, []string{"default"}) || pols.Truncated {
		t.Errorf("ListKeyPolicies = %+v", pols)
	}
}

func TestUnsupportedOperation_ChangesNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	md := createKey(t, e.root(), &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	for _, target := range []string{"UpdatePrimaryRegion", "RotateKeyOnDemand", "ImportKeyMaterial", "Sign"} {
		status, typ, _ := post(t, e.url, target, testAuth, `{"KeyId":"`+*md.KeyId+`","PrimaryRegion":"eu-west-1"}`)
		if status != 400 || typ != "UnsupportedOperationException" {
			t.Errorf("%s: %d %s", target, status, typ)
		}
	}
	if got := describe(t, e.root(), *md.KeyId); aws.ToString(got.MultiRegionConfiguration.PrimaryKey.Region) != "us-west-2" || got.KeyState != types.KeyStateEnabled {
		t.Errorf("key after unsupported calls = %+v", got)
	}
}
