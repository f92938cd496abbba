package awsemu_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

var (
	uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	mrkPattern  = regexp.MustCompile(`^mrk-[0-9a-f]{32}$`)
)

func TestCreateKey_DefaultsDescribeAsAWS(t *testing.T) {
	t.Parallel()
	e := setup(t)
	md := createKey(t, e.root(), &kms.CreateKeyInput{Description: aws.String("orders")})

	if !uuidPattern.MatchString(*md.KeyId) {
		t.Errorf("KeyId = %q, want a lowercase UUID", *md.KeyId)
	}
	want := "arn:aws:kms:us-west-2:111122223333:key/" + *md.KeyId
	if *md.Arn != want || *md.AWSAccountId != account {
		t.Errorf("Arn = %q account %q, want %q", *md.Arn, *md.AWSAccountId, want)
	}
	//lint:ignore SA1019 AWS still answers the deprecated field, and older clients read it
	legacySpec := md.CustomerMasterKeySpec
	if md.KeyState != types.KeyStateEnabled || !md.Enabled || md.KeyUsage != types.KeyUsageTypeEncryptDecrypt ||
		md.KeySpec != types.KeySpecSymmetricDefault || legacySpec != types.CustomerMasterKeySpecSymmetricDefault ||
		md.KeyManager != types.KeyManagerTypeCustomer || md.Origin != types.OriginTypeAwsKms ||
		*md.Description != "orders" || aws.ToBool(md.MultiRegion) || md.MultiRegionConfiguration != nil {
		t.Errorf("metadata = %+v", md)
	}
	if !slices.Equal(md.EncryptionAlgorithms, []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecSymmetricDefault}) {
		t.Errorf("EncryptionAlgorithms = %v", md.EncryptionAlgorithms)
	}
	if !md.CreationDate.Equal(e.clock.Now()) {
		t.Errorf("CreationDate = %v, want %v", md.CreationDate, e.clock.Now())
	}
	if got := describe(t, e.root(), *md.Arn); *got.KeyId != *md.KeyId || got.KeyState != types.KeyStateEnabled {
		t.Errorf("DescribeKey by ARN = %+v", got)
	}
}

func TestCreateKey_RecordsEveryValidSpecAndUsage(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cases := []struct {
		spec  types.KeySpec
		usage types.KeyUsageType
		check func(md *types.KeyMetadata) bool
	}{
		{types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt, func(md *types.KeyMetadata) bool { return len(md.EncryptionAlgorithms) == 2 }},
		{types.KeySpecRsa4096, types.KeyUsageTypeSignVerify, func(md *types.KeyMetadata) bool { return len(md.SigningAlgorithms) == 6 }},
		{types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify, func(md *types.KeyMetadata) bool {
			return slices.Equal(md.SigningAlgorithms, []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEcdsaSha256})
		}},
		{types.KeySpecEccNistP384, types.KeyUsageTypeKeyAgreement, func(md *types.KeyMetadata) bool { return len(md.KeyAgreementAlgorithms) == 1 }},
		{types.KeySpecEccSecgP256k1, types.KeyUsageTypeSignVerify, func(md *types.KeyMetadata) bool { return len(md.SigningAlgorithms) == 1 }},
		{types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac, func(md *types.KeyMetadata) bool {
			return slices.Equal(md.MacAlgorithms, []types.MacAlgorithmSpec{types.MacAlgorithmSpecHmacSha256})
		}},
		//lint:ignore SA1019 AWS still answers the deprecated field, and older clients read it
		{types.KeySpecMlDsa65, types.KeyUsageTypeSignVerify, func(md *types.KeyMetadata) bool { return md.CustomerMasterKeySpec == "" }},
		{types.KeySpecMlKem768, types.KeyUsageTypeEncapsulateDecapsulate, func(md *types.KeyMetadata) bool { return len(md.EncapsulationAlgorithms) == 1 }},
	}
	for _, tc := range cases {
		t.Run(string(tc.spec)+"/"+string(tc.usage), func(t *testing.T) {
			t.Parallel()
			md := createKey(t, e.root(), &kms.CreateKeyInput{KeySpec: tc.spec, KeyUsage: tc.usage})
			got := describe(t, e.root(), *md.KeyId)
			if got.KeySpec != tc.spec || got.KeyUsage != tc.usage || !tc.check(got) {
				t.Errorf("described %+v", got)
			}
			_, err := e.root().Encrypt(bg, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
			wantCode(t, err, "InvalidKeyUsageException")
		})
	}
	t.Run("incompatible pair", func(t *testing.T) {
		t.Parallel()
		_, err := e.root().CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256})
		wantCode(t, err, "ValidationException") // HMAC keys need KeyUsage GENERATE_VERIFY_MAC
		_, err = e.root().CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecEccSecgP256k1, KeyUsage: types.KeyUsageTypeKeyAgreement})
		wantCode(t, err, "ValidationException")
	})
	t.Run("unknown spec", func(t *testing.T) {
		t.Parallel()
		_, err := e.root().CreateKey(bg, &kms.CreateKeyInput{KeySpec: "AES_512"})
		wantCode(t, err, "ValidationException")
	})
	t.Run("external origin", func(t *testing.T) {
		t.Parallel()
		_, err := e.root().CreateKey(bg, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
		wantCode(t, err, "UnsupportedOperationException")
	})
}

func TestKeyStates_DisableEnableScheduleCancel(t *testing.T) {
	t.Parallel()
	e, c, md := rootKey(t)
	arn := *md.Arn
	plain := []byte("canary")
	ct, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: plain})
	ok(t, err)

	_, err = c.DisableKey(bg, &kms.DisableKeyInput{KeyId: md.KeyId})
	ok(t, err)
	if got := describe(t, c, arn); got.KeyState != types.KeyStateDisabled || got.Enabled {
		t.Fatalf("after DisableKey: %s enabled=%v", got.KeyState, got.Enabled)
	}
	_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
	wantCode(t, err, "DisabledException")
	if msg := errMessage(err); msg != arn+" is disabled." {
		t.Errorf("message = %q", msg)
	}
	_, err = c.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256})
	wantCode(t, err, "DisabledException")

	_, err = c.EnableKey(bg, &kms.EnableKeyInput{KeyId: md.KeyId})
	ok(t, err)
	ok(t, roundTrip(c, arn, nil))

	sched, err := c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)})
	ok(t, err)
	wantDate := e.clock.Now().Add(7 * 24 * time.Hour)
	if *sched.KeyId != arn || sched.KeyState != types.KeyStatePendingDeletion || *sched.PendingWindowInDays != 7 || !sched.DeletionDate.Equal(wantDate) {
		t.Errorf("ScheduleKeyDeletion = %+v", sched)
	}
	got := describe(t, c, arn)
	if got.KeyState != types.KeyStatePendingDeletion || got.DeletionDate == nil || !got.DeletionDate.Equal(wantDate) {
		t.Errorf("described pending key: %s %v", got.KeyState, got.DeletionDate)
	}
	_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
	wantCode(t, err, "KMSInvalidStateException")
	if msg := errMessage(err); msg != arn+" is pending deletion." {
		t.Errorf("message = %q", msg)
	}
	_, err = c.EnableKey(bg, &kms.EnableKeyInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")

	cancel, err := c.CancelKeyDeletion(bg, &kms.CancelKeyDeletionInput{KeyId: md.KeyId})
	ok(t, err)
	if *cancel.KeyId != arn {
		t.Errorf("CancelKeyDeletion KeyId = %q", *cancel.KeyId)
	}
	if got := describe(t, c, arn); got.KeyState != types.KeyStateDisabled || got.DeletionDate != nil {
		t.Errorf("after cancel: %s %v, want Disabled without DeletionDate", got.KeyState, got.DeletionDate)
	}
	_, err = c.CancelKeyDeletion(bg, &kms.CancelKeyDeletionInput{KeyId: md.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	if msg := errMessage(err); msg != arn+" is not pending deletion." {
		t.Errorf("message = %q", msg)
	}
}

func TestScheduleKeyDeletion_WindowBounds(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.root()
	for _, days := range []int32{6, 31} {
		md := createKey(t, c, nil)
		_, err := c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(days)})
		wantCode(t, err, "ValidationException")
		if !strings.Contains(errMessage(err), "pendingWindowInDays") {
			t.Errorf("message %q does not name the member", errMessage(err))
		}
	}
	md := createKey(t, c, nil)
	out, err := c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId})
	ok(t, err)
	if *out.PendingWindowInDays != 30 {
		t.Errorf("default window = %d, want 30", *out.PendingWindowInDays)
	}
}

func TestScheduledDeletion_CompletesWhenTheWindowEnds(t *testing.T) {
	t.Parallel()
	e, c, md := rootKey(t)
	ct, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("gone soon")})
	ok(t, err)
	_, err = c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/doomed"), TargetKeyId: md.KeyId})
	ok(t, err)
	_, err = c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)})
	ok(t, err)

	e.clock.Advance(7*24*time.Hour - time.Second)
	if got := describe(t, c, *md.KeyId); got.KeyState != types.KeyStatePendingDeletion {
		t.Fatalf("a second early: %s", got.KeyState)
	}
	e.clock.Advance(time.Second)
	_, err = c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: md.KeyId})
	wantCode(t, err, "NotFoundException")
	if msg := errMessage(err); msg != "Key '"+*md.Arn+"' does not exist" {
		t.Errorf("message = %q", msg)
	}
	_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
	wantCode(t, err, "NotFoundException")
	_, err = c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("alias/doomed")})
	wantCode(t, err, "NotFoundException")
	keys, err := c.ListKeys(bg, &kms.ListKeysInput{})
	ok(t, err)
	for _, k := range keys.Keys {
		if *k.KeyId == *md.KeyId {
			t.Errorf("ListKeys still lists the deleted key")
		}
	}
}

func TestKeyIDForms_AcceptedPerOperation(t *testing.T) {
	t.Parallel()
	_, c, md := rootKey(t)
	_, err := c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/orders"), TargetKeyId: md.KeyId})
	ok(t, err)
	aliasARN := "arn:aws:kms:us-west-2:111122223333:alias/orders"

	for _, id := range []string{*md.KeyId, *md.Arn, "alias/orders", aliasARN} {
		if got := describe(t, c, id); *got.KeyId != *md.KeyId {
			t.Errorf("DescribeKey(%s) = %s", id, *got.KeyId)
		}
		ok(t, roundTrip(c, id, nil))
	}
	// Key administration takes a key id or key ARN only.
	for _, id := range []string{*md.KeyId, *md.Arn} {
		_, err := c.EnableKey(bg, &kms.EnableKeyInput{KeyId: aws.String(id)})
		ok(t, err)
	}
	for _, id := range []string{"alias/orders", aliasARN} {
		_, err := c.DisableKey(bg, &kms.DisableKeyInput{KeyId: aws.String(id)})
		wantCode(t, err, "NotFoundException")
	}
	cases := map[string]string{
		"garbage":                              "Invalid keyId garbage",
		"alias/missing":                        "Alias arn:aws:kms:us-west-2:111122223333:alias/missing is not found.",
		"0b0c7a1e-0000-4000-8000-000000000000": "Key 'arn:aws:kms:us-west-2:111122223333:key/0b0c7a1e-0000-4000-8000-000000000000' does not exist",
		"arn:aws:kms:eu-west-1:111122223333:key/" + *md.KeyId: "Invalid arn eu-west-1",
	}
	for id, msg := range cases {
		_, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		wantCode(t, err, "NotFoundException")
		if errMessage(err) != msg {
			t.Errorf("DescribeKey(%s) message = %q, want %q", id, errMessage(err), msg)
		}
	}
}

func TestKeysAreRegional(t *testing.T) {
	t.Parallel()
	e := setup(t)
	west := createKey(t, e.root(), nil)
	east := e.client("us-east-1", akidRoot)
	_, err := east.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: west.KeyId})
	wantCode(t, err, "NotFoundException")
	eastKey := createKey(t, east, nil)
	if !strings.HasPrefix(*eastKey.Arn, "arn:aws:kms:us-east-1:111122223333:key/") {
		t.Errorf("ARN %s is not in us-east-1", *eastKey.Arn)
	}
	gov := createKey(t, e.client("us-gov-west-1", akidRoot), nil)
	if !strings.HasPrefix(*gov.Arn, "arn:aws-us-gov:kms:us-gov-west-1:") {
		t.Errorf("GovCloud ARN %s has the wrong partition", *gov.Arn)
	}
}

func TestAWSManagedKey_InEveryRegion(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, region := range []string{"us-west-2", "eu-central-1"} {
		c := e.client(region, akidPlatform) // any principal, even of another account, may use it
		md := describe(t, c, "arn:aws:kms:"+region+":111122223333:alias/aws/cmekd-test")
		if md.KeyManager != types.KeyManagerTypeAws || md.KeyState != types.KeyStateEnabled {
			t.Errorf("%s managed key: %+v", region, md)
		}
		ok(t, roundTrip(c, *md.Arn, map[string]string{"k": "v"}))
		_, err := e.client(region, akidRoot).DisableKey(bg, &kms.DisableKeyInput{KeyId: md.KeyId})
		wantCode(t, err, "AccessDeniedException")
		rot, err := e.client(region, akidRoot).GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: md.KeyId})
		ok(t, err)
		if !rot.KeyRotationEnabled {
			t.Errorf("AWS-managed keys rotate every year")
		}
	}
}

func TestListKeys_Paginates(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.client("ap-south-1", akidRoot)
	want := []string{}
	for range 5 {
		want = append(want, *createKey(t, c, nil).KeyId)
	}
	var got []string
	var marker *string
	pages := 0
	for {
		out, err := c.ListKeys(bg, &kms.ListKeysInput{Limit: aws.Int32(2), Marker: marker})
		ok(t, err)
		pages++
		for _, k := range out.Keys {
			if *k.KeyArn != "arn:aws:kms:ap-south-1:111122223333:key/"+*k.KeyId {
				t.Errorf("KeyArn %s does not match KeyId %s", *k.KeyArn, *k.KeyId)
			}
			got = append(got, *k.KeyId)
		}
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	// The region's AWS-managed key comes first, then keys in creation order.
	if pages != 3 || len(got) != 6 || !slices.Equal(got[1:], want) {
		t.Errorf("pages=%d keys=%v, want managed key + %v", pages, got, want)
	}
	_, err := c.ListKeys(bg, &kms.ListKeysInput{Marker: aws.String("!!not-a-marker")})
	wantCode(t, err, "InvalidMarkerException")
	_, err = c.ListKeys(bg, &kms.ListKeysInput{Limit: aws.Int32(1001)})
	wantCode(t, err, "ValidationException")
}

func TestAliases_CreateListConflict(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.root()
	a := createKey(t, c, nil)
	b := createKey(t, c, nil)
	_, err := c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/app/orders"), TargetKeyId: a.Arn})
	ok(t, err)
	_, err = c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/app/orders"), TargetKeyId: b.KeyId})
	wantCode(t, err, "AlreadyExistsException")
	_, err = c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/mine"), TargetKeyId: b.KeyId})
	wantCode(t, err, "InvalidAliasNameException")
	_, err = c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("orders"), TargetKeyId: b.KeyId})
	wantCode(t, err, "ValidationException")
	_, err = c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/b"), TargetKeyId: aws.String("alias/app/orders")})
	wantCode(t, err, "NotFoundException")

	all, err := c.ListAliases(bg, &kms.ListAliasesInput{})
	ok(t, err)
	var names []string
	for _, al := range all.Aliases {
		names = append(names, *al.AliasName)
	}
	if !slices.Equal(names, []string{"alias/app/orders", "alias/aws/cmekd-test"}) {
		t.Errorf("aliases = %v", names)
	}
	mine, err := c.ListAliases(bg, &kms.ListAliasesInput{KeyId: a.KeyId})
	ok(t, err)
	if len(mine.Aliases) != 1 || *mine.Aliases[0].TargetKeyId != *a.KeyId ||
		*mine.Aliases[0].AliasArn != "arn:aws:kms:us-west-2:111122223333:alias/app/orders" {
		t.Errorf("ListAliases(KeyId) = %+v", mine.Aliases)
	}
	page, err := c.ListAliases(bg, &kms.ListAliasesInput{Limit: aws.Int32(1)})
	ok(t, err)
	if !page.Truncated || len(page.Aliases) != 1 {
		t.Errorf("Limit 1: truncated=%v n=%d", page.Truncated, len(page.Aliases))
	}
	next, err := c.ListAliases(bg, &kms.ListAliasesInput{Limit: aws.Int32(1), Marker: page.NextMarker})
	ok(t, err)
	if next.Truncated || *next.Aliases[0].AliasName != "alias/aws/cmekd-test" {
		t.Errorf("second page = %+v", next.Aliases)
	}

	_, err = c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: b.KeyId})
	ok(t, err)
	_, err = c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/late"), TargetKeyId: b.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	e, c, md := rootKey(t)
	st, err := c.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: md.KeyId})
	ok(t, err)
	if st.KeyRotationEnabled || *st.KeyId != *md.Arn {
		t.Errorf("new key rotation = %+v", st)
	}
	_, err = c.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: aws.Int32(90)})
	ok(t, err)
	st, err = c.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: md.Arn})
	ok(t, err)
	if !st.KeyRotationEnabled || *st.RotationPeriodInDays != 90 || !st.NextRotationDate.Equal(e.clock.Now().Add(90*24*time.Hour)) {
		t.Errorf("rotation = %+v", st)
	}
	_, err = c.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: md.KeyId, RotationPeriodInDays: aws.Int32(30)})
	wantCode(t, err, "ValidationException")

	rsa := createKey(t, c, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048})
	_, err = c.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: rsa.KeyId})
	wantCode(t, err, "UnsupportedOperationException")
	_, err = c.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: rsa.KeyId})
	wantCode(t, err, "UnsupportedOperationException")

	off := createKey(t, c, nil)
	_, err = c.DisableKey(bg, &kms.DisableKeyInput{KeyId: off.KeyId})
	ok(t, err)
	_, err = c.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: off.KeyId})
	wantCode(t, err, "DisabledException")
}

func TestKeyPolicy_GetPutAndMalformed(t *testing.T) {
	t.Parallel()
	_, c, md := rootKey(t)
	got, err := c.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: md.KeyId})
	ok(t, err)
	if *got.PolicyName != "default" || !strings.Contains(*got.Policy, `"arn:aws:iam::111122223333:root"`) ||
		!strings.Contains(*got.Policy, `"kms:*"`) {
		t.Errorf("default policy = %s", *got.Policy)
	}
	_, err = c.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: md.KeyId, PolicyName: aws.String("other")})
	wantCode(t, err, "NotFoundException")

	policy := policyOf(rootStatement, `{"Sid":"use","Effect":"Allow","Principal":{"AWS":"`+platformRole+`"},"Action":"kms:Decrypt","Resource":"*"}`)
	_, err = c.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: md.KeyId, Policy: aws.String(policy)})
	ok(t, err)
	got, err = c.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: md.Arn})
	ok(t, err)
	if *got.Policy != policy {
		t.Errorf("policy read back = %s", *got.Policy)
	}

	malformed := map[string]string{
		"not JSON":           `{"Statement": [`,
		"no statements":      `{"Version":"2012-10-17","Statement":[]}`,
		"bad effect":         policyOf(`{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}`),
		"no principal":       policyOf(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`),
		"no action":          policyOf(`{"Effect":"Allow","Principal":"*","Resource":"*"}`),
		"no resource":        policyOf(`{"Effect":"Allow","Principal":"*","Action":"kms:*"}`),
		"invalid principal":  policyOf(`{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*","Resource":"*"}`),
		"unknown operator":   policyOf(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"kms:ViaService":"x"}}}`),
		"unknown element":    policyOf(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Actions":"x"}`),
		"bad version":        `{"Version":"2020-01-01","Statement":` + rootStatement + `}`,
		"action is a number": policyOf(`{"Effect":"Allow","Principal":"*","Action":{"a":1},"Resource":"*"}`),
	}
	for name, doc := range malformed {
		_, err := c.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: md.KeyId, Policy: aws.String(doc)})
		if errCode(err) != "MalformedPolicyDocumentException" {
			t.Errorf("%s: error %v, want MalformedPolicyDocumentException", name, err)
		}
		_, err = c.CreateKey(bg, &kms.CreateKeyInput{Policy: aws.String(doc)})
		if errCode(err) != "MalformedPolicyDocumentException" {
			t.Errorf("%s: CreateKey error %v, want MalformedPolicyDocumentException", name, err)
		}
	}
}

func TestKeyPolicy_LockoutSafetyCheck(t *testing.T) {
	t.Parallel()
	e, c, md := rootKey(t)
	onlyPlatform := policyOf(`{"Effect":"Allow","Principal":{"AWS":"` + platformRole + `"},"Action":"kms:*","Resource":"*"}`)
	_, err := c.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: md.KeyId, Policy: aws.String(onlyPlatform)})
	wantCode(t, err, "MalformedPolicyDocumentException")
	_, err = c.CreateKey(bg, &kms.CreateKeyInput{Policy: aws.String(onlyPlatform)})
	wantCode(t, err, "MalformedPolicyDocumentException")

	_, err = c.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: md.KeyId, Policy: aws.String(onlyPlatform), BypassPolicyLockoutSafetyCheck: true})
	ok(t, err)
	_, err = c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: md.KeyId})
	wantCode(t, err, "AccessDeniedException")
	ok(t, roundTrip(e.client("us-west-2", akidPlatform), *md.Arn, nil))
}
