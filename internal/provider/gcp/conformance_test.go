package gcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	kmsapi "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/provider/gcp"
	"github.com/cmekd/cmekd/internal/verify"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedEnv != nil {
		_ = sharedEnv.emu.Close()
	}
	os.Exit(code)
}

func TestConformance_Emulator(t *testing.T) {
	t.Parallel()
	en := startEmulator(t, t.Cleanup)
	RunConformance(t, &en.Env)
}

// TestConformance_GoogleCloud runs the suite against a real project when its credentials are
// given: CMEKD_GCP_TEST_PROJECT (where key rings are made; they cannot be deleted, so each run
// makes new ones), CMEKD_GCP_TEST_ADMIN_CREDENTIALS (a key file of a cloudkms.admin there),
// GOOGLE_APPLICATION_CREDENTIALS (the platform's key file, used through Application Default
// Credentials) with CMEKD_GCP_PRINCIPAL, and optionally CMEKD_GCP_TEST_LOCATION (us-central1).
func TestConformance_GoogleCloud(t *testing.T) {
	project, adminFile := os.Getenv("CMEKD_GCP_TEST_PROJECT"), os.Getenv("CMEKD_GCP_TEST_ADMIN_CREDENTIALS")
	principal := os.Getenv("CMEKD_GCP_PRINCIPAL")
	if project == "" || adminFile == "" || principal == "" || os.Getenv("GOOGLE_APPLICATION_CREDENTIALS") == "" {
		t.Skip("no Google Cloud project to test against: set CMEKD_GCP_TEST_PROJECT, CMEKD_GCP_TEST_ADMIN_CREDENTIALS, GOOGLE_APPLICATION_CREDENTIALS and CMEKD_GCP_PRINCIPAL")
	}
	location := os.Getenv("CMEKD_GCP_TEST_LOCATION")
	if location == "" {
		location = "us-central1"
	}
	ctx := context.Background()
	admin, err := kmsapi.NewKeyManagementClient(ctx, option.WithAuthCredentialsFile(option.ServiceAccount, adminFile))
	must(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	p, err := gcp.New(ctx, gcp.Config{Principal: principal, Regions: []string{location}})
	must(t, err)
	t.Cleanup(func() { _ = p.Close() })
	RunConformance(t, &Env{Provider: p, Admin: admin, Project: project, Location: location, Principal: principal,
		Prefix: fmt.Sprintf("cmekd-conformance-%d", time.Now().Unix()), Settle: 3 * time.Minute})
}

// RunConformance checks that env's Cloud KMS behaves as cmekd needs, through the provider acting as
// the platform and the official client acting as the customer. A subtest that needs what the
// target cannot do skips, saying so.
func RunConformance(t *testing.T, env *Env) {
	t.Run("Keys", func(t *testing.T) { runParallel(t, env) })
	// Destroying at once rewrites the emulator's whole state, so it runs after the parallel group,
	// alone.
	t.Run("Destroyed", func(t *testing.T) { testDestroyed(t, env) })
}

func runParallel(t *testing.T, env *Env) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *Env)
	}{
		{"AccessIsExactlyEnough", testAccessIsExactlyEnough},
		{"DecryptNeedsItsPermission", testDecryptNeedsItsPermission},
		{"DisabledPrimary", testDisabledPrimary},
		{"DestroyScheduled", testDestroyScheduled},
		{"WrongPurpose", testWrongPurpose},
		{"UnknownKey", testUnknownKey},
		{"WrapUnwrapWithContext", testWrapUnwrapWithContext},
		{"RotationKeepsDataReadable", testRotationKeepsDataReadable},
		{"ReEncryptAcrossKeys", testReEncryptAcrossKeys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, env)
		})
	}
}

// grantedKey is a new key with the bindings Access names.
func (e *Env) grantedKey(t *testing.T) string {
	key := e.key(t, kmspb.CryptoKey_ENCRYPT_DECRYPT)
	e.grant(t, key, accessRoles(t, e.Provider, key)...)
	return key
}

// accessRoles are the roles of Access's JSON, checked to be for the platform's member alone.
func accessRoles(t *testing.T, p *gcp.Provider, key string) []string {
	t.Helper()
	raw, err := p.Access(key, "json")
	must(t, err)
	var doc gcp.Bindings
	must(t, json.Unmarshal(raw, &doc))
	var roles []string
	for _, b := range doc.Bindings {
		if len(b.Members) != 1 || b.Members[0] != "serviceAccount:"+strings.TrimPrefix(b.Members[0], "serviceAccount:") {
			t.Fatalf("binding %+v is not for one service account", b)
		}
		roles = append(roles, b.Role)
	}
	return roles
}

func ok(r verify.Report) bool { return r.OK() }

// failsAt is the want of a report whose first failure is check with code.
func failsAt(check, code string) func(verify.Report) bool {
	return func(r verify.Report) bool {
		c, failed := r.FirstFailure()
		return failed && c.Name == check && c.Code == code
	}
}

// wantFailure asserts r's first failure and that every later check was skipped.
func wantFailure(t *testing.T, r verify.Report, check, code, action string, advice ...string) domain.Check {
	t.Helper()
	c, failed := r.FirstFailure()
	if !failed || c.Name != check || c.Code != code || c.Action != action {
		t.Fatalf("first failure = %+v (%v), want %s %s %s; checks %+v", c, failed, check, code, action, r.Checks)
	}
	for _, a := range advice {
		if !strings.Contains(c.Message, a) {
			t.Errorf("message %q lacks %q", c.Message, a)
		}
	}
	after := false
	for _, x := range r.Checks {
		if after && x.Code != domain.CodeSkipped {
			t.Errorf("check %s after the failure was not skipped: %+v", x.Name, x)
		}
		after = after || x.Name == check
	}
	if r.Transient() {
		t.Error("a customer-caused failure was reported transient")
	}
	return c
}

var roleInAdvice = regexp.MustCompile(`--role (roles/[a-zA-Z.]+)`)

func testAccessIsExactlyEnough(t *testing.T, env *Env) {
	key := env.grantedKey(t)
	roles := accessRoles(t, env.Provider, key)
	for _, steps := range []verify.Steps{verify.Full, verify.Health} {
		if r := env.verify(t, key, steps, ok); !r.OK() || len(r.Checks) != len(gcp.Checks) || r.KeyARN != key {
			t.Fatalf("verification (%d) with the access granted: %+v", steps, r)
		}
	}
	failure := map[string][2]string{
		"roles/cloudkms.cryptoKeyEncrypterDecrypter": {verify.CheckEncrypt, "cloudkms.cryptoKeyVersions.useToEncrypt"},
		"roles/cloudkms.viewer":                      {gcp.CheckGetKey, "cloudkms.cryptoKeys.get"},
	}
	for i, removed := range roles {
		want, known := failure[removed]
		if !known || len(roles) != 2 {
			t.Fatalf("Access grants %v, want the encrypter/decrypter and viewer roles", roles)
		}
		rest := append(append([]string{}, roles[:i]...), roles[i+1:]...)
		env.grant(t, key, rest...)
		r := env.verify(t, key, verify.Full, failsAt(want[0], domain.CodeAccessDenied))
		c := wantFailure(t, r, want[0], domain.CodeAccessDenied, want[1], "gcloud kms keys add-iam-policy-binding data", env.Principal)
		// The advice's command, done, fixes it.
		m := roleInAdvice.FindStringSubmatch(c.Message)
		if m == nil || m[1] != removed {
			t.Fatalf("advice %q does not grant %s", c.Message, removed)
		}
		env.grant(t, key, append(rest, m[1])...)
		if r := env.verify(t, key, verify.Full, ok); !r.OK() {
			t.Fatalf("after following the advice: %+v", r.Checks)
		}
	}
}

func testDecryptNeedsItsPermission(t *testing.T, env *Env) {
	key := env.key(t, kmspb.CryptoKey_ENCRYPT_DECRYPT)
	env.grant(t, key, "roles/cloudkms.cryptoKeyEncrypter", "roles/cloudkms.viewer")
	r := env.verify(t, key, verify.Full, failsAt(verify.CheckDecrypt, domain.CodeAccessDenied))
	wantFailure(t, r, verify.CheckDecrypt, domain.CodeAccessDenied, "cloudkms.cryptoKeyVersions.useToDecrypt",
		"--role roles/cloudkms.cryptoKeyEncrypterDecrypter")
}

// setVersion changes a version's state as the customer does.
func (e *Env) setVersion(t *testing.T, version string, state kmspb.CryptoKeyVersion_CryptoKeyVersionState) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch state {
	case kmspb.CryptoKeyVersion_DESTROY_SCHEDULED:
		_, err = e.Admin.DestroyCryptoKeyVersion(ctx, &kmspb.DestroyCryptoKeyVersionRequest{Name: version})
	default:
		_, err = e.Admin.UpdateCryptoKeyVersion(ctx, &kmspb.UpdateCryptoKeyVersionRequest{
			CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: version, State: state},
			UpdateMask:       &fieldmaskpb.FieldMask{Paths: []string{"state"}},
		})
	}
	must(t, err)
}

func testDisabledPrimary(t *testing.T, env *Env) {
	key := env.grantedKey(t)
	env.setVersion(t, key+"/cryptoKeyVersions/1", kmspb.CryptoKeyVersion_DISABLED)
	for _, steps := range []verify.Steps{verify.Full, verify.Health} {
		r := env.verify(t, key, steps, failsAt(verify.CheckKeyState, domain.CodeKeyDisabled))
		wantFailure(t, r, verify.CheckKeyState, domain.CodeKeyDisabled, "",
			"primary version 1 is disabled", "gcloud kms keys versions enable 1 --key data --keyring ")
	}
	env.setVersion(t, key+"/cryptoKeyVersions/1", kmspb.CryptoKeyVersion_ENABLED)
	if r := env.verify(t, key, verify.Health, ok); !r.OK() {
		t.Fatalf("after enabling: %+v", r.Checks)
	}
}

func testDestroyScheduled(t *testing.T, env *Env) {
	key := env.grantedKey(t)
	v1 := key + "/cryptoKeyVersions/1"
	env.setVersion(t, v1, kmspb.CryptoKeyVersion_DESTROY_SCHEDULED)
	r := env.verify(t, key, verify.Health, failsAt(verify.CheckKeyState, domain.CodeKeyPendingDeletion))
	wantFailure(t, r, verify.CheckKeyState, domain.CodeKeyPendingDeletion, "",
		"gcloud kms keys versions restore 1 --key data", "&& gcloud kms keys versions enable 1 --key data")
	_, err := env.Admin.RestoreCryptoKeyVersion(context.Background(), &kmspb.RestoreCryptoKeyVersionRequest{Name: v1})
	must(t, err)
	env.setVersion(t, v1, kmspb.CryptoKeyVersion_ENABLED)
	if r := env.verify(t, key, verify.Full, ok); !r.OK() {
		t.Fatalf("after restoring: %+v", r.Checks)
	}
}

func testDestroyed(t *testing.T, env *Env) {
	if env.DestroyNow == nil {
		t.Skip("the target cannot destroy a version before its scheduled time (at least a day)")
	}
	key := env.grantedKey(t)
	wrapped := wrap(t, env.Provider, key, orgCtx)
	v1 := key + "/cryptoKeyVersions/1"
	env.setVersion(t, v1, kmspb.CryptoKeyVersion_DESTROY_SCHEDULED)
	env.DestroyNow(t, v1)
	r := env.verify(t, key, verify.Health, failsAt(verify.CheckKeyState, domain.CodeKeyDeleted))
	wantFailure(t, r, verify.CheckKeyState, domain.CodeKeyDeleted, "", "was destroyed", "gcloud kms keys versions create --key data")
	_, err := env.Provider.Decrypt(context.Background(), key, wrapped, orgCtx)
	wantKMSError(t, err, domain.CodeKeyDeleted, "cloudkms.cryptoKeyVersions.useToDecrypt")
}

func testWrongPurpose(t *testing.T, env *Env) {
	key := env.key(t, kmspb.CryptoKey_ASYMMETRIC_SIGN)
	env.grant(t, key, accessRoles(t, env.Provider, key)...)
	r := env.verify(t, key, verify.Full, failsAt(gcp.CheckKeyPurpose, domain.CodeWrongKeyPurpose))
	wantFailure(t, r, gcp.CheckKeyPurpose, domain.CodeWrongKeyPurpose, "", "ASYMMETRIC_SIGN", "--purpose encryption")
}

func testUnknownKey(t *testing.T, env *Env) {
	key := env.key(t, kmspb.CryptoKey_ENCRYPT_DECRYPT)
	ring := strings.Split(key, "/cryptoKeys/")[0]
	missing := ring + "/cryptoKeys/missing"
	// Without a binding that reaches it, a missing key is indistinguishable from a forbidden one.
	r := env.verify(t, missing, verify.Full, failsAt(gcp.CheckGetKey, domain.CodeAccessDenied))
	wantFailure(t, r, gcp.CheckGetKey, domain.CodeAccessDenied, "cloudkms.cryptoKeys.get", "--role roles/cloudkms.viewer")
	env.grant(t, ring, "roles/cloudkms.viewer")
	r = env.verify(t, missing, verify.Full, failsAt(gcp.CheckGetKey, domain.CodeKeyNotFound))
	wantFailure(t, r, gcp.CheckGetKey, domain.CodeKeyNotFound, "cloudkms.cryptoKeys.get", "gcloud kms keys describe missing")
}

var orgCtx = map[string]string{"cmekd:org": "org_1", "cmekd:collection": "col_1"}

func wrap(t *testing.T, p *gcp.Provider, key string, encCtx map[string]string) []byte {
	t.Helper()
	_, wrapped, err := p.GenerateDataKey(context.Background(), key, encCtx)
	must(t, err)
	return wrapped
}

func wantKMSError(t *testing.T, err error, code, action string) {
	t.Helper()
	ke, isKMS := err.(*kms.Error)
	if !isKMS || ke.Code != code || ke.Action != action {
		t.Fatalf("err = %#v, want a *kms.Error %s on %s", err, code, action)
	}
}

func testWrapUnwrapWithContext(t *testing.T, env *Env) {
	key, other := env.grantedKey(t), env.grantedKey(t)
	p, ctx := env.Provider, context.Background()
	dk, wrapped, err := p.GenerateDataKey(ctx, key, orgCtx)
	must(t, err)
	if len(dk) != 32 || bytes.Contains(wrapped, dk) {
		t.Fatalf("data key of %d bytes, wrapped form holding it: %v", len(dk), bytes.Contains(wrapped, dk))
	}
	got, err := p.Decrypt(ctx, key, wrapped, map[string]string{"cmekd:collection": "col_1", "cmekd:org": "org_1"})
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("Decrypt = %x, %v; want the data key", got, err)
	}
	for name, encCtx := range map[string]map[string]string{
		"other value": {"cmekd:org": "org_2", "cmekd:collection": "col_1"},
		"missing":     {"cmekd:org": "org_1"},
		"shifted":     {"cmekd:org": "org_1cmekd:collection", "": "col_1"},
		"none":        nil,
	} {
		_, err := p.Decrypt(ctx, key, wrapped, encCtx)
		wantKMSError(t, err, domain.CodeInvalidCiphertext, "cloudkms.cryptoKeyVersions.useToDecrypt")
		t.Logf("context %s refused", name)
	}
	_, err = p.Decrypt(ctx, other, wrapped, orgCtx)
	wantKMSError(t, err, domain.CodeInvalidCiphertext, "cloudkms.cryptoKeyVersions.useToDecrypt")
}

func testRotationKeepsDataReadable(t *testing.T, env *Env) {
	key := env.grantedKey(t)
	p, ctx := env.Provider, context.Background()
	before, err := p.Encrypt(ctx, key, []byte("before rotation"), orgCtx)
	must(t, err)
	v2, err := env.Admin.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: key})
	must(t, err)
	_, err = env.Admin.UpdateCryptoKeyPrimaryVersion(ctx, &kmspb.UpdateCryptoKeyPrimaryVersionRequest{
		Name: key, CryptoKeyVersionId: v2.GetName()[strings.LastIndexByte(v2.GetName(), '/')+1:]})
	must(t, err)
	if r := env.verify(t, key, verify.Full, ok); !r.OK() {
		t.Fatalf("after rotation: %+v", r.Checks)
	}
	got, err := p.Decrypt(ctx, key, before, orgCtx)
	if err != nil || string(got) != "before rotation" {
		t.Fatalf("Decrypt of data wrapped before rotation = %q, %v", got, err)
	}
	// The old version disabled, its data is refused naming that version and how to enable it.
	env.setVersion(t, key+"/cryptoKeyVersions/1", kmspb.CryptoKeyVersion_DISABLED)
	_, err = p.Decrypt(ctx, key, before, orgCtx)
	wantKMSError(t, err, domain.CodeKeyDisabled, "cloudkms.cryptoKeyVersions.useToDecrypt")
	if r := env.verify(t, key, verify.Health, ok); !r.OK() {
		t.Fatalf("the new primary is enabled, but: %+v", r.Checks)
	}
}

func testReEncryptAcrossKeys(t *testing.T, env *Env) {
	from, to := env.grantedKey(t), env.grantedKey(t)
	p, ctx := env.Provider, context.Background()
	dk, wrapped, err := p.GenerateDataKey(ctx, from, orgCtx)
	must(t, err)
	backupCtx := map[string]string{"cmekd:backup": "b1"}
	again, err := p.ReEncrypt(ctx, from, wrapped, orgCtx, to, backupCtx)
	must(t, err)
	got, err := p.Decrypt(ctx, to, again, backupCtx)
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("Decrypt of the re-encrypted key = %x, %v", got, err)
	}
}
