package kmstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
)

// RunConformance checks that env behaves as cmekd needs KMS to behave, through the cmekd client acting
// as the platform and the raw SDK acting as the customer. It first finds what the target can do
// (multi-region keys, a grant API, key-policy enforcement, each key spec); a subtest that needs what
// it lacks skips with a reason naming it, and any other deviation is a failure. The outage subtest
// skips unless env is an emulator.
func RunConformance(t *testing.T, env *Env) {
	env.capabilities(t)
	t.Run("Keys", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			run  func(*testing.T, *Env)
		}{
			{"CreateDescribe", testCreateDescribe},
			{"GenerateDataKeyDecrypt", testGenerateDataKeyDecrypt},
			{"EncryptionContext", testEncryptionContext},
			{"DisableEnable", testDisableEnable},
			{"ScheduleCancelDeletion", testScheduleCancelDeletion},
			{"UnknownKey", testUnknownKey},
			{"Aliases", testAliases},
			{"MultiRegionReplica", testMultiRegionReplica},
			{"Grants", testGrants},
			{"GrantTokensAndRetirement", testGrantTokensAndRetirement},
			{"PolicyDenial", testPolicyDenial},
			{"WrongKeyUsage", testWrongKeyUsage},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, env)
			})
		}
	})
	// Freezing takes the whole endpoint down, so it runs after the parallel group, alone.
	t.Run("TransientOutage", func(t *testing.T) { testTransientOutage(t, env) })
}

// orgContext is the encryption context cmekd's probe uses.
var orgContext = map[string]string{"cmekd:org": "onboarding"}

func testCreateDescribe(t *testing.T, env *Env) {
	keyARN := env.CreateCustomerKey(t, env.Region, KeyOptions{})
	md, err := env.PlatformClient(t).DescribeKey(t.Context(), keyARN)
	if err != nil {
		t.Fatalf("DescribeKey: %v", err)
	}
	a, err := arn.Parse(md.ARN)
	if err != nil || a.Service != "kms" || a.Region != env.Region || a.AccountID != env.Account ||
		a.Resource != "key/"+md.KeyID {
		t.Errorf("ARN %q does not name key %q of account %s in %s", md.ARN, md.KeyID, env.Account, env.Region)
	}
	want := kms.KeyMetadata{ARN: keyARN, KeyID: md.KeyID, State: "Enabled", Usage: "ENCRYPT_DECRYPT",
		Spec: "SYMMETRIC_DEFAULT", Manager: "CUSTOMER", MultiRegion: false}
	if md != want {
		t.Errorf("DescribeKey = %+v, want %+v", md, want)
	}
}

func testGenerateDataKeyDecrypt(t *testing.T, env *Env) {
	keyARN := env.CreateCustomerKey(t, env.Region, KeyOptions{})
	platform := env.PlatformClient(t)
	plaintext, wrapped := generateDataKey(t, platform, keyARN, orgContext)
	if len(plaintext) != 32 {
		t.Errorf("data key has %d bytes, want 32 (AES-256)", len(plaintext))
	}
	if bytes.Contains(wrapped, plaintext) {
		t.Error("the wrapped data key contains the plaintext")
	}
	got, err := platform.Decrypt(t.Context(), keyARN, wrapped, orgContext)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if !bytes.Equal(got, plaintext) {
		t.Error("Decrypt returned another data key than GenerateDataKey")
	}
}

func testEncryptionContext(t *testing.T, env *Env) {
	keyARN := env.CreateCustomerKey(t, env.Region, KeyOptions{})
	platform := env.PlatformClient(t)
	canary := []byte("cmekd canary")
	ciphertext, err := platform.Encrypt(t.Context(), keyARN, canary, orgContext)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	got, err := platform.Decrypt(t.Context(), keyARN, ciphertext, orgContext)
	if err != nil || !bytes.Equal(got, canary) {
		t.Fatalf("Decrypt with the same context = %q, %v; want %q", got, err, canary)
	}
	for name, encCtx := range map[string]map[string]string{
		"other value": {"cmekd:org": "org_other"},
		"other key":   {"cmekd:tenant": "onboarding"},
		"extra pair":  {"cmekd:org": "onboarding", "cmekd:collection": "col_1"},
		"none":        nil,
	} {
		_, err := platform.Decrypt(t.Context(), keyARN, ciphertext, encCtx)
		wantCode(t, err, domain.CodeInvalidCiphertext, "kms:Decrypt", "Decrypt with "+name+" context")
	}
	other := env.CreateCustomerKey(t, env.Region, KeyOptions{})
	_, err = platform.Decrypt(t.Context(), other, ciphertext, orgContext)
	wantCode(t, err, domain.CodeInvalidCiphertext, "kms:Decrypt", "Decrypt naming another key")
}

func testDisableEnable(t *testing.T, env *Env) {
	platform, keyARN, plaintext, wrapped := refusingKey(t, env, env.DisableKey, domain.CodeKeyDisabled, "disabled key", "Disabled")
	_, err := platform.Encrypt(t.Context(), keyARN, []byte("x"), orgContext)
	wantCode(t, err, domain.CodeKeyDisabled, "kms:Encrypt", "Encrypt under a disabled key")

	env.EnableKey(t, keyARN)
	env.eventually(t, "the re-enabled key decrypts what it wrapped before", func() error {
		got, err := platform.Decrypt(t.Context(), keyARN, wrapped, orgContext)
		if err == nil && !bytes.Equal(got, plaintext) {
			return errors.New("another data key came back")
		}
		return stillCode(err, domain.CodeKeyDisabled, "kms:Decrypt")
	})
	wantState(t, platform, keyARN, "Enabled")
}

// refusingKey makes a key and a data key under it, has the customer change the key (env.DisableKey),
// and waits until the key, now a what ("disabled key"), refuses GenerateDataKey with code; it checks
// that Decrypt is refused with code too, and that the key's state is state.
func refusingKey(t *testing.T, env *Env, change func(testing.TB, string), code, what, state string) (
	platform *kms.Client, keyARN string, plaintext, wrapped []byte) {
	t.Helper()
	keyARN = env.CreateCustomerKey(t, env.Region, KeyOptions{})
	platform = env.PlatformClient(t)
	plaintext, wrapped = generateDataKey(t, platform, keyARN, orgContext)
	change(t, keyARN)
	env.eventually(t, "the "+what+" refuses GenerateDataKey", func() error {
		_, _, err := platform.GenerateDataKey(t.Context(), keyARN, orgContext)
		return becomes(err, code, "kms:GenerateDataKey")
	})
	_, err := platform.Decrypt(t.Context(), keyARN, wrapped, orgContext)
	wantCode(t, err, code, "kms:Decrypt", "Decrypt under a "+what)
	wantState(t, platform, keyARN, state)
	return platform, keyARN, plaintext, wrapped
}

func testScheduleCancelDeletion(t *testing.T, env *Env) {
	platform, keyARN, _, _ := refusingKey(t, env, env.ScheduleDeletion, domain.CodeKeyPendingDeletion, "key pending deletion", "PendingDeletion")
	env.CancelDeletion(t, keyARN)
	// A cancelled deletion leaves the key disabled: the customer must enable it on purpose.
	env.eventually(t, "the key is disabled after the cancelled deletion", func() error {
		_, _, err := platform.GenerateDataKey(t.Context(), keyARN, orgContext)
		if codeIs(err, domain.CodeKeyPendingDeletion, "kms:GenerateDataKey") == nil {
			return notYet(err)
		}
		return codeIs(err, domain.CodeKeyDisabled, "kms:GenerateDataKey")
	})
	wantState(t, platform, keyARN, "Disabled")
}

func testUnknownKey(t *testing.T, env *Env) {
	keyARN := fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", env.Region, env.Account, randomUUID())
	platform := env.PlatformClient(t)
	_, err := platform.DescribeKey(t.Context(), keyARN)
	wantCode(t, err, domain.CodeKeyNotFound, "kms:DescribeKey", "DescribeKey of an unknown key")
	_, _, err = platform.GenerateDataKey(t.Context(), keyARN, orgContext)
	wantCode(t, err, domain.CodeKeyNotFound, "kms:GenerateDataKey", "GenerateDataKey under an unknown key")
}

func testAliases(t *testing.T, env *Env) {
	keyARN := env.CreateCustomerKey(t, env.Region, KeyOptions{})
	customer := env.SDK(t, env.Region, env.CustomerAccessKey)
	aliasName := "alias/cmekd-test-" + strings.ToLower(rand.Text())
	if _, err := customer.CreateAlias(t.Context(), &awskms.CreateAliasInput{
		AliasName: aws.String(aliasName), TargetKeyId: aws.String(keyARN)}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	if env.persistent {
		t.Cleanup(func() {
			_, _ = customer.DeleteAlias(context.Background(), &awskms.DeleteAliasInput{AliasName: aws.String(aliasName)})
		})
	}
	out, err := customer.DescribeKey(t.Context(), &awskms.DescribeKeyInput{KeyId: aws.String(aliasName)})
	if err != nil {
		t.Fatalf("DescribeKey %s: %v", aliasName, err)
	}
	if got := aws.ToString(out.KeyMetadata.Arn); got != keyARN {
		t.Errorf("DescribeKey %s resolved to %s, want %s", aliasName, got, keyARN)
	}

	aliasARN := fmt.Sprintf("arn:aws:kms:%s:%s:%s", env.Region, env.Account, aliasName)
	platform := env.PlatformClient(t)
	md, err := platform.DescribeKey(t.Context(), aliasARN)
	if err != nil {
		t.Fatalf("DescribeKey %s: %v", aliasARN, err)
	}
	if md.ARN != keyARN {
		t.Errorf("DescribeKey %s resolved to %s, want %s", aliasARN, md.ARN, keyARN)
	}
	plaintext, wrapped := generateDataKey(t, platform, aliasARN, orgContext)
	got, err := platform.Decrypt(t.Context(), keyARN, wrapped, orgContext)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Errorf("Decrypt under the key of a data key made through its alias: %v", err)
	}
}

func testMultiRegionReplica(t *testing.T, env *Env) {
	if reason := env.capabilities(t).multiRegion; reason != "" {
		t.Skip(reason)
	}
	primaryARN := env.CreateCustomerKey(t, env.Region, KeyOptions{MultiRegion: true})
	platform := env.PlatformClient(t)
	primary, err := platform.DescribeKey(t.Context(), primaryARN)
	if err != nil {
		t.Fatalf("DescribeKey primary: %v", err)
	}
	if !primary.MultiRegion || !strings.HasPrefix(primary.KeyID, "mrk-") {
		t.Errorf("primary = %+v, want a multi-region key with an mrk- id", primary)
	}

	replicaARN := replicate(t, env, platform, primaryARN)
	replica, err := platform.DescribeKey(t.Context(), replicaARN)
	if err != nil {
		t.Fatalf("DescribeKey replica: %v", err)
	}
	if !replica.MultiRegion || replica.KeyID != primary.KeyID {
		t.Errorf("replica = %+v, want multi-region with key id %s", replica, primary.KeyID)
	}

	plaintext, wrapped := generateDataKey(t, platform, primaryARN, orgContext)
	got, err := platform.Decrypt(t.Context(), replicaARN, wrapped, orgContext)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Errorf("the replica does not decrypt the primary's data key: %v", err)
	}
	canary := []byte("made in the replica region")
	ciphertext, err := platform.Encrypt(t.Context(), replicaARN, canary, orgContext)
	if err != nil {
		t.Fatalf("Encrypt under the replica: %v", err)
	}
	got, err = platform.Decrypt(t.Context(), primaryARN, ciphertext, orgContext)
	if err != nil || !bytes.Equal(got, canary) {
		t.Errorf("the primary does not decrypt the replica's ciphertext: %v", err)
	}
}

// replicate replicates the multi-region key primaryARN to another region and waits until the
// replica is enabled; it returns the replica's ARN.
func replicate(t *testing.T, env *Env, platform *kms.Client, primaryARN string) string {
	t.Helper()
	replicaRegion := otherRegion(env.Region)
	replicaARN := env.ReplicateKey(t, primaryARN, replicaRegion)
	if want := strings.Replace(primaryARN, ":"+env.Region+":", ":"+replicaRegion+":", 1); replicaARN != want {
		t.Errorf("replica ARN = %s, want %s (same key id, replica region)", replicaARN, want)
	}
	// A replica is Creating for a while on AWS (and the emulator) before it can be used.
	env.eventually(t, "the replica is enabled", func() error {
		md, err := platform.DescribeKey(t.Context(), replicaARN)
		switch {
		case err != nil && codeIs(err, domain.CodeKeyNotFound, "kms:DescribeKey") == nil:
			return notYet(err) // AWS may not know the replica at once
		case err != nil:
			return err
		case md.State == "Creating":
			return notYet(fmt.Errorf("replica state %s", md.State))
		case md.State != "Enabled":
			return fmt.Errorf("replica state %s, want Creating then Enabled", md.State)
		}
		return nil
	})
	return replicaARN
}

// grantSetup skips a grants test where the endpoint has no grants or enforces no policies (a grant
// would change nothing), and otherwise makes a key under the default policy, which admits the
// platform to nothing, and the platform's and the customer's clients.
func grantSetup(t *testing.T, env *Env) (keyARN string, platform *kms.Client, customer *awskms.Client) {
	caps := env.capabilities(t)
	if caps.grants != "" {
		t.Skip(caps.grants)
	}
	if caps.policies != "" {
		t.Skip(caps.policies + "; a grant would change nothing")
	}
	return env.CreateCustomerKey(t, env.Region, KeyOptions{DefaultPolicy: true}), env.PlatformClient(t), env.SDK(t, env.Region, env.CustomerAccessKey)
}

func testGrants(t *testing.T, env *Env) {
	keyARN, platform, customer := grantSetup(t, env)
	_, _, err := platform.GenerateDataKey(t.Context(), keyARN, orgContext)
	wantCode(t, err, domain.CodeAccessDenied, "kms:GenerateDataKey", "GenerateDataKey before the grant")

	grant, err := customer.CreateGrant(t.Context(), &awskms.CreateGrantInput{
		KeyId:            aws.String(keyARN),
		GranteePrincipal: aws.String(env.PlatformPrincipal),
		Operations:       []types.GrantOperation{types.GrantOperationGenerateDataKey, types.GrantOperationDecrypt},
		Name:             aws.String("cmekd-test"),
	})
	if err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	env.eventually(t, "the grant lets the platform make data keys", func() error {
		plaintext, wrapped, err := platform.GenerateDataKey(t.Context(), keyARN, orgContext)
		if err != nil {
			return stillCode(err, domain.CodeAccessDenied, "kms:GenerateDataKey")
		}
		got, err := platform.Decrypt(t.Context(), keyARN, wrapped, orgContext)
		if err == nil && !bytes.Equal(got, plaintext) {
			return errors.New("decrypt returned another data key")
		}
		return err
	})
	// The grant names two operations only; the policy still refuses the rest.
	_, err = platform.DescribeKey(t.Context(), keyARN)
	wantCode(t, err, domain.CodeAccessDenied, "kms:DescribeKey", "DescribeKey, which the grant does not allow")

	if _, err := customer.RevokeGrant(t.Context(), &awskms.RevokeGrantInput{
		KeyId: aws.String(keyARN), GrantId: grant.GrantId}); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	env.eventually(t, "the revoked grant no longer lets the platform make data keys", func() error {
		_, _, err := platform.GenerateDataKey(t.Context(), keyARN, orgContext)
		return becomes(err, domain.CodeAccessDenied, "kms:GenerateDataKey")
	})
}

// testGrantTokensAndRetirement is what grant mode needs of the client: a grant's token
// makes it usable at once, before KMS has made it visible everywhere; ListGrants shows it with its
// constraint; its retiring principal retires it, and retiring it again reports it gone.
func testGrantTokensAndRetirement(t *testing.T, env *Env) {
	keyARN, platform, customer := grantSetup(t, env)
	grant, err := customer.CreateGrant(t.Context(), &awskms.CreateGrantInput{
		KeyId:             aws.String(keyARN),
		GranteePrincipal:  aws.String(env.PlatformPrincipal),
		RetiringPrincipal: aws.String(env.PlatformPrincipal),
		Operations:        []types.GrantOperation{types.GrantOperationGenerateDataKey, types.GrantOperationDecrypt},
		Constraints:       &types.GrantConstraints{EncryptionContextSubset: orgContext},
		Name:              aws.String("cmekd-token-test"),
	})
	if err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	id := aws.ToString(grant.GrantId)
	platform.AddGrantToken(keyARN, id, aws.ToString(grant.GrantToken))
	// With the token no wait is needed, on AWS too.
	generateDataKey(t, platform, keyARN, orgContext)
	_, _, err = platform.GenerateDataKey(t.Context(), keyARN, map[string]string{"cmekd:org": "org_other"})
	wantCode(t, err, domain.CodeAccessDenied, "kms:GenerateDataKey", "GenerateDataKey under a context the grant does not admit")

	env.eventually(t, "ListGrants shows the grant", func() error {
		list, err := env.ClientAs(t, env.CustomerAccessKey).ListGrants(t.Context(), keyARN)
		if err != nil {
			return err
		}
		for _, g := range list {
			if g.ID == id && g.Retiring == env.PlatformPrincipal && g.ContextSubset["cmekd:org"] == orgContext["cmekd:org"] {
				return nil
			}
		}
		return notYet(fmt.Errorf("grant %s not listed: %+v", id, list))
	})
	if gone, err := platform.RetireGrant(t.Context(), keyARN, id); err != nil || gone {
		t.Fatalf("RetireGrant = %v, %v", gone, err)
	}
	env.eventually(t, "the retired grant is gone", func() error {
		gone, err := platform.RetireGrant(t.Context(), keyARN, id)
		switch {
		case err != nil:
			return err
		case !gone:
			return notYet(errors.New("the grant is still there"))
		}
		return nil
	})
}

// platformCall is one of the platform's calls on a key, with the IAM action it needs.
type platformCall struct {
	action string
	call   func() error
}

// platformCalls are the platform's four calls on keyARN; the Decrypt decrypts blob.
func platformCalls(t *testing.T, platform *kms.Client, keyARN string, blob []byte) []platformCall {
	return []platformCall{
		{"kms:DescribeKey", func() error { _, err := platform.DescribeKey(t.Context(), keyARN); return err }},
		{"kms:GenerateDataKey", func() error {
			_, _, err := platform.GenerateDataKey(t.Context(), keyARN, orgContext)
			return err
		}},
		{"kms:Encrypt", func() error { _, err := platform.Encrypt(t.Context(), keyARN, []byte("x"), orgContext); return err }},
		{"kms:Decrypt", func() error { _, err := platform.Decrypt(t.Context(), keyARN, blob, orgContext); return err }},
	}
}

func testPolicyDenial(t *testing.T, env *Env) {
	if reason := env.capabilities(t).policies; reason != "" {
		t.Skip(reason)
	}
	keyARN := env.CreateCustomerKey(t, env.Region, KeyOptions{DefaultPolicy: true})
	platform := env.PlatformClient(t)
	// The customer may use their own key; the platform may not, whatever the call.
	blob, err := env.SDK(t, env.Region, env.CustomerAccessKey).Encrypt(t.Context(), &awskms.EncryptInput{
		KeyId: aws.String(keyARN), Plaintext: []byte("customer data"), EncryptionContext: orgContext})
	if err != nil {
		t.Fatalf("customer Encrypt: %v", err)
	}
	for _, tc := range platformCalls(t, platform, keyARN, blob.CiphertextBlob) {
		wantCode(t, tc.call(), domain.CodeAccessDenied, tc.action, tc.action+" as the platform")
	}
}

func testWrongKeyUsage(t *testing.T, env *Env) {
	platform := env.PlatformClient(t)
	for _, p := range wrongUsagePairs {
		// Each pair on its own: a target that cannot make one kind of key still tests the others.
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			probe := env.capabilities(t).keySpecs[p]
			if probe.reason != "" {
				t.Skip(probe.reason)
			}
			md, err := platform.DescribeKey(t.Context(), probe.keyARN)
			if err != nil {
				t.Fatalf("DescribeKey: %v", err)
			}
			if md.Spec != string(p.spec) || md.Usage != string(p.usage) {
				t.Errorf("DescribeKey reports %s/%s", md.Spec, md.Usage)
			}
			_, err = platform.Encrypt(t.Context(), probe.keyARN, []byte("x"), orgContext)
			wantCode(t, err, domain.CodeWrongKeyUsage, "kms:Encrypt", "Encrypt")
			_, _, err = platform.GenerateDataKey(t.Context(), probe.keyARN, orgContext)
			wantCode(t, err, domain.CodeWrongKeyUsage, "kms:GenerateDataKey", "GenerateDataKey")
		})
	}
}

func testTransientOutage(t *testing.T, env *Env) {
	if env.frozen == nil {
		t.Skip("only an emulator can be frozen to stage an outage; this target is not one")
	}
	keyARN := env.CreateCustomerKey(t, env.Region, KeyOptions{})
	platform := env.PlatformClient(t)
	plaintext, wrapped := generateDataKey(t, platform, keyARN, orgContext)

	env.Freeze()
	t.Cleanup(env.Unfreeze)
	for _, tc := range platformCalls(t, platform, keyARN, wrapped) {
		kerr := wantCode(t, tc.call(), domain.CodeKMSUnavailable, tc.action, tc.action+" during the outage")
		if kerr != nil && !kerr.Transient() {
			t.Errorf("%s during the outage: not transient", tc.action)
		}
	}

	env.Unfreeze()
	got, err := platform.Decrypt(t.Context(), keyARN, wrapped, orgContext)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Errorf("Decrypt after the outage: %v", err)
	}
}

// generateDataKey makes a data key as the platform and fails t if it cannot.
func generateDataKey(t *testing.T, platform *kms.Client, keyARN string, encCtx map[string]string) (plaintext, wrapped []byte) {
	t.Helper()
	plaintext, wrapped, err := platform.GenerateDataKey(t.Context(), keyARN, encCtx)
	if err != nil {
		t.Fatalf("GenerateDataKey: %v", err)
	}
	return plaintext, wrapped
}

// wantState fails t unless DescribeKey as the platform succeeds and reports state.
func wantState(t *testing.T, platform *kms.Client, keyARN, state string) {
	t.Helper()
	md, err := platform.DescribeKey(t.Context(), keyARN)
	if err != nil {
		t.Fatalf("DescribeKey: %v", err)
	}
	if md.State != state {
		t.Errorf("DescribeKey reports state %s, want %s", md.State, state)
	}
}

// wantCode fails t unless err is a *kms.Error with code and action, and returns it.
func wantCode(t *testing.T, err error, code, action, what string) *kms.Error {
	t.Helper()
	if cerr := codeIs(err, code, action); cerr != nil {
		t.Errorf("%s: %v", what, cerr)
		return nil
	}
	var kerr *kms.Error
	errors.As(err, &kerr)
	return kerr
}

// codeIs explains why err is not a *kms.Error with code and action, or returns nil when it is.
func codeIs(err error, code, action string) error {
	var kerr *kms.Error
	switch {
	case err == nil:
		return fmt.Errorf("succeeded, want %s", code)
	case !errors.As(err, &kerr):
		return fmt.Errorf("unclassified error %v, want %s", err, code)
	case kerr.Code != code || kerr.Action != action:
		return fmt.Errorf("got %s on %s (%v), want %s on %s", kerr.Code, kerr.Action, err, code, action)
	}
	return nil
}

// errNotYet marks a check's failure as the state before the change it waits for, which a KMS that
// applies changes after a delay shows for a while.
var errNotYet = errors.New("not yet")

// notYet marks err as the state before the awaited change.
func notYet(err error) error { return fmt.Errorf("%w: %w", errNotYet, err) }

// becomes is the check that an operation that succeeded now fails with code: success is not yet,
// any other failure is final.
func becomes(err error, code, action string) error {
	if err == nil {
		return notYet(errors.New("still succeeds"))
	}
	return codeIs(err, code, action)
}

// stillCode is the check that an operation that failed with code now succeeds: that failure is
// not yet, any other is final.
func stillCode(err error, code, action string) error {
	if err != nil && codeIs(err, code, action) == nil {
		return notYet(err)
	}
	return err
}

// eventually retries check while it reports the state before the change it waits for (errNotYet):
// AWS applies key state changes, grants and replicas after a short delay, the emulator makes
// replicas after one. Any other failure fails t at once, so that a broken target does not wait
// out the deadline.
func (e *Env) eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	limit, pause := 10*time.Second, 100*time.Millisecond
	if e.persistent {
		limit, pause = time.Minute, time.Second
	}
	deadline := time.Now().Add(limit)
	for {
		err := check()
		switch {
		case err == nil:
			return
		case !errors.Is(err, errNotYet):
			t.Fatalf("%s: %v", what, err)
		case time.Now().After(deadline):
			t.Fatalf("%s: still not after %s: %v", what, limit, err)
		}
		time.Sleep(pause)
	}
}

// otherRegion picks a region for replicas other than region.
func otherRegion(region string) string {
	if region == "us-west-2" {
		return "us-east-1"
	}
	return "us-west-2"
}

// randomUUID returns a random key id in the UUID form KMS uses.
func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
