package gcp_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/iam/apiv1/iampb"
	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/cmekd/cmekd/emulator/gcp"
	"github.com/cmekd/cmekd/emulator/tlsca"
)

const (
	project  = "acme-prod"
	location = "projects/acme-prod/locations/us-central1"
	adminSA  = "admin@acme-prod.iam.gserviceaccount.com"
	appSA    = "cmekd@platform-1.iam.gserviceaccount.com"
)

// env is a serving emulator with two identities: adminSA (cloudkms.admin of project) and appSA
// (no grant).
type env struct {
	emu     *gcp.Emulator
	addr    string
	ca      *tlsca.CA
	dir     string
	changes atomic.Int32
}

func setup(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ca, err := tlsca.Open(filepath.Join(dir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := ca.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	en := &env{addr: ln.Addr().String(), ca: ca, dir: filepath.Join(dir, "creds")}
	en.emu = newEmulator(t, en)
	served := make(chan error, 1)
	go func() { served <- en.emu.Serve(ln, tlsCfg) }()
	t.Cleanup(func() {
		if err := en.emu.Close(); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	for _, id := range [][2]string{{adminSA, project}, {appSA, ""}} {
		if _, err := en.emu.AddIdentity(id[0], id[1]); err != nil {
			t.Fatal(err)
		}
	}
	return en
}

func newEmulator(t *testing.T, en *env) *gcp.Emulator {
	t.Helper()
	emu, err := gcp.New(gcp.Options{
		CredentialsDir: en.dir,
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		TokenURL:       "https://" + en.addr + "/token",
		OnChange:       func() { en.changes.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return emu
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// client is the official Cloud KMS client with email's key file, as a customer dials it.
func (en *env) client(t *testing.T, email string, extra ...option.ClientOption) *kms.KeyManagementClient {
	t.Helper()
	return en.dial(t, append([]option.ClientOption{
		option.WithAuthCredentialsFile(option.ServiceAccount, filepath.Join(en.dir, email+".json")),
	}, extra...)...)
}

// dial is the official client on the emulator's address, trusting its CA, authenticated by opts.
func (en *env) dial(t *testing.T, opts ...option.ClientOption) *kms.KeyManagementClient {
	t.Helper()
	c, err := kms.NewKeyManagementClient(context.Background(), append([]option.ClientOption{
		option.WithEndpoint(en.addr),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(grpccreds.NewTLS(en.ca.ClientConfig()))),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// key creates a ring and a symmetric key as adminSA and returns the key's name.
func (en *env) key(t *testing.T, admin *kms.KeyManagementClient) string {
	t.Helper()
	ctx := context.Background()
	ring, err := admin.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: location, KeyRingId: "ring"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := admin.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{
		Parent: ring.GetName(), CryptoKeyId: "data",
		CryptoKey: &kmspb.CryptoKey{Purpose: kmspb.CryptoKey_ENCRYPT_DECRYPT},
	})
	if err != nil {
		t.Fatal(err)
	}
	if k.GetPrimary().GetState() != kmspb.CryptoKeyVersion_ENABLED || k.GetVersionTemplate().GetAlgorithm() != kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION {
		t.Fatalf("new key = %v", k)
	}
	return k.GetName()
}

// appKey sets up an emulator and a key that appSA may use with the encrypter-decrypter role and
// extra roles, and returns the admin's and the app's clients and the key's name.
func appKey(t *testing.T, extra ...string) (en *env, admin, app *kms.KeyManagementClient, key string) {
	t.Helper()
	en = setup(t)
	admin, app = en.client(t, adminSA), en.client(t, appSA)
	key = en.key(t, admin)
	bind(t, admin, key, "serviceAccount:"+appSA, append([]string{"roles/cloudkms.cryptoKeyEncrypterDecrypter"}, extra...)...)
	return en, admin, app, key
}

// bind sets key's policy to the bindings of roles for member, as customers grant cmekd.
func bind(t *testing.T, admin *kms.KeyManagementClient, resource, member string, roles ...string) {
	t.Helper()
	ctx := context.Background()
	p, err := admin.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: resource})
	if err != nil {
		t.Fatal(err)
	}
	p.Bindings = nil
	for _, r := range roles {
		p.Bindings = append(p.Bindings, &iampb.Binding{Role: r, Members: []string{member}})
	}
	if _, err := admin.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: resource, Policy: p}); err != nil {
		t.Fatal(err)
	}
}

func crc(b []byte) *wrapperspb.Int64Value {
	return wrapperspb.Int64(int64(crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))))
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), contains) {
		t.Fatalf("err = %v, want %s containing %q", err, code, contains)
	}
}

func encrypt(t *testing.T, c *kms.KeyManagementClient, name string, pt, aad []byte) *kmspb.EncryptResponse {
	t.Helper()
	resp, err := c.Encrypt(context.Background(), &kmspb.EncryptRequest{
		Name: name, Plaintext: pt, AdditionalAuthenticatedData: aad,
		PlaintextCrc32C: crc(pt), AdditionalAuthenticatedDataCrc32C: crc(aad),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetVerifiedPlaintextCrc32C() || !resp.GetVerifiedAdditionalAuthenticatedDataCrc32C() || resp.GetCiphertextCrc32C().GetValue() != crc(resp.GetCiphertext()).GetValue() {
		t.Fatalf("integrity fields of %v", resp)
	}
	return resp
}

func decrypt(c *kms.KeyManagementClient, name string, ct, aad []byte) ([]byte, error) {
	resp, err := c.Decrypt(context.Background(), &kmspb.DecryptRequest{
		Name: name, Ciphertext: ct, AdditionalAuthenticatedData: aad,
		CiphertextCrc32C: crc(ct), AdditionalAuthenticatedDataCrc32C: crc(aad),
	})
	if err == nil && resp.GetPlaintextCrc32C().GetValue() != crc(resp.GetPlaintext()).GetValue() {
		return nil, errors.New("plaintext_crc32c does not match")
	}
	return resp.GetPlaintext(), err
}

func TestGrantedIdentity_EncryptsAndDecryptsWithAAD(t *testing.T) {
	t.Parallel()
	en := setup(t)
	admin, app := en.client(t, adminSA), en.client(t, appSA)
	key := en.key(t, admin)
	ctx := context.Background()

	_, err := app.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: []byte("x")})
	wantCode(t, err, codes.PermissionDenied, "Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource '"+key+"' (or it may not exist).")
	_, err = admin.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: []byte("x")})
	wantCode(t, err, codes.PermissionDenied, "useToEncrypt") // an admin manages keys but does not use them

	bind(t, admin, key, "serviceAccount:"+appSA, "roles/cloudkms.cryptoKeyEncrypterDecrypter", "roles/cloudkms.viewer")
	got, err := app.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: key})
	if err != nil || got.GetPurpose() != kmspb.CryptoKey_ENCRYPT_DECRYPT {
		t.Fatalf("GetCryptoKey = %v, %v", got, err)
	}
	aad := []byte(`{"org":"o1"}`)
	resp := encrypt(t, app, key, []byte("data key"), aad)
	if resp.GetName() != key+"/cryptoKeyVersions/1" {
		t.Errorf("Encrypt name = %s", resp.GetName())
	}
	if pt, err := decrypt(app, key, resp.GetCiphertext(), aad); err != nil || string(pt) != "data key" {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
	_, err = decrypt(app, key, resp.GetCiphertext(), []byte(`{"org":"o2"}`))
	wantCode(t, err, codes.InvalidArgument, "Decryption failed")
	perms, err := app.TestIamPermissions(ctx, &iampb.TestIamPermissionsRequest{Resource: key, Permissions: []string{
		"cloudkms.cryptoKeyVersions.useToEncrypt", "cloudkms.cryptoKeys.get", "cloudkms.cryptoKeys.setIamPolicy"}})
	if err != nil || len(perms.GetPermissions()) != 2 {
		t.Fatalf("TestIamPermissions = %v, %v", perms, err)
	}
}

func TestEncrypt_RefusesCorruptedChecksums(t *testing.T) {
	t.Parallel()
	_, _, app, key := appKey(t)
	ctx := context.Background()
	_, err := app.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: []byte("x"), PlaintextCrc32C: wrapperspb.Int64(1)})
	wantCode(t, err, codes.InvalidArgument, "plaintext_crc32c")
	_, err = app.Encrypt(ctx, &kmspb.EncryptRequest{Name: key, Plaintext: []byte("x"), AdditionalAuthenticatedData: []byte("a"), AdditionalAuthenticatedDataCrc32C: wrapperspb.Int64(1)})
	wantCode(t, err, codes.InvalidArgument, "additional_authenticated_data_crc32c")
	ct := encrypt(t, app, key, []byte("x"), nil).GetCiphertext()
	_, err = app.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: ct, CiphertextCrc32C: wrapperspb.Int64(crc(ct).GetValue() + 1)})
	wantCode(t, err, codes.InvalidArgument, "ciphertext_crc32c")
}

func TestRemovedBinding_DeniesNamingThePermission(t *testing.T) {
	t.Parallel()
	_, admin, app, key := appKey(t, "roles/cloudkms.viewer")
	ct := encrypt(t, app, key, []byte("x"), nil).GetCiphertext()

	bind(t, admin, key, "serviceAccount:"+appSA, "roles/cloudkms.cryptoKeyEncrypterDecrypter")
	_, err := app.GetCryptoKey(context.Background(), &kmspb.GetCryptoKeyRequest{Name: key})
	wantCode(t, err, codes.PermissionDenied, "Permission 'cloudkms.cryptoKeys.get' denied on resource '"+key+"'")

	bind(t, admin, key, "serviceAccount:"+appSA, "roles/cloudkms.cryptoKeyEncrypter")
	_, err = decrypt(app, key, ct, nil)
	wantCode(t, err, codes.PermissionDenied, "Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' denied")

	// A binding on the ring reaches its keys.
	bind(t, admin, key, "serviceAccount:"+appSA)
	bind(t, admin, strings.Split(key, "/cryptoKeys/")[0], "serviceAccount:"+appSA, "roles/cloudkms.cryptoKeyDecrypter")
	if _, err := decrypt(app, key, ct, nil); err != nil {
		t.Fatal(err)
	}
	// Without IAM on the key, an unknown key is indistinguishable from a forbidden one.
	_, err = app.GetCryptoKey(context.Background(), &kmspb.GetCryptoKeyRequest{Name: location + "/keyRings/ring/cryptoKeys/nope"})
	wantCode(t, err, codes.PermissionDenied, "(or it may not exist)")
	_, err = admin.GetCryptoKey(context.Background(), &kmspb.GetCryptoKeyRequest{Name: location + "/keyRings/ring/cryptoKeys/nope"})
	wantCode(t, err, codes.NotFound, "CryptoKey "+location+"/keyRings/ring/cryptoKeys/nope not found.")
}

func TestDisabledPrimary_FailsEncryptAndDecrypt(t *testing.T) {
	t.Parallel()
	_, admin, app, key := appKey(t)
	ct := encrypt(t, app, key, []byte("x"), nil).GetCiphertext()
	setState(t, admin, key+"/cryptoKeyVersions/1", kmspb.CryptoKeyVersion_DISABLED)

	_, err := app.Encrypt(context.Background(), &kmspb.EncryptRequest{Name: key, Plaintext: []byte("x")})
	wantCode(t, err, codes.FailedPrecondition, key+"/cryptoKeyVersions/1 is not enabled, current state is: DISABLED.")
	_, err = decrypt(app, key, ct, nil)
	wantCode(t, err, codes.FailedPrecondition, "current state is: DISABLED")

	setState(t, admin, key+"/cryptoKeyVersions/1", kmspb.CryptoKeyVersion_ENABLED)
	if _, err := decrypt(app, key, ct, nil); err != nil {
		t.Fatal(err)
	}
}

func setState(t *testing.T, admin *kms.KeyManagementClient, version string, s kmspb.CryptoKeyVersion_CryptoKeyVersionState) {
	t.Helper()
	v, err := admin.UpdateCryptoKeyVersion(context.Background(), &kmspb.UpdateCryptoKeyVersionRequest{
		CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: version, State: s},
		UpdateMask:       &fieldmaskpb.FieldMask{Paths: []string{"state"}},
	})
	if err != nil || v.GetState() != s {
		t.Fatalf("UpdateCryptoKeyVersion = %v, %v", v, err)
	}
}

func TestRotation_KeepsOldCiphertextsReadable(t *testing.T) {
	t.Parallel()
	_, admin, app, key := appKey(t)
	ctx := context.Background()
	old := encrypt(t, app, key, []byte("before"), nil).GetCiphertext()

	v2, err := admin.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: key})
	if err != nil || v2.GetName() != key+"/cryptoKeyVersions/2" {
		t.Fatalf("CreateCryptoKeyVersion = %v, %v", v2, err)
	}
	if resp := encrypt(t, app, key, []byte("x"), nil); resp.GetName() != key+"/cryptoKeyVersions/1" {
		t.Fatalf("a new version became primary by itself: %s", resp.GetName())
	}
	k, err := admin.UpdateCryptoKeyPrimaryVersion(ctx, &kmspb.UpdateCryptoKeyPrimaryVersionRequest{Name: key, CryptoKeyVersionId: "2"})
	if err != nil || k.GetPrimary().GetName() != v2.GetName() {
		t.Fatalf("UpdateCryptoKeyPrimaryVersion = %v, %v", k, err)
	}
	if resp := encrypt(t, app, key, []byte("x"), nil); resp.GetName() != v2.GetName() {
		t.Fatalf("Encrypt after rotation used %s", resp.GetName())
	}
	resp, err := app.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: old})
	if err != nil || string(resp.GetPlaintext()) != "before" || resp.GetUsedPrimary() {
		t.Fatalf("Decrypt of an old ciphertext = %v, %v", resp, err)
	}
	it := admin.ListCryptoKeyVersions(ctx, &kmspb.ListCryptoKeyVersionsRequest{Parent: key, PageSize: 1})
	var n int
	for _, err := range it.All() {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("listed %d versions, want 2", n)
	}
}

func TestDestroyScheduled_ThenRestoredDisabled(t *testing.T) {
	t.Parallel()
	_, admin, app, key := appKey(t)
	ct := encrypt(t, app, key, []byte("x"), nil).GetCiphertext()
	ctx := context.Background()
	v1 := key + "/cryptoKeyVersions/1"

	v, err := admin.DestroyCryptoKeyVersion(ctx, &kmspb.DestroyCryptoKeyVersionRequest{Name: v1})
	if err != nil || v.GetState() != kmspb.CryptoKeyVersion_DESTROY_SCHEDULED || v.GetDestroyTime().AsTime().Before(time.Now().Add(29*24*time.Hour)) {
		t.Fatalf("DestroyCryptoKeyVersion = %v, %v", v, err)
	}
	_, err = decrypt(app, key, ct, nil)
	wantCode(t, err, codes.FailedPrecondition, "current state is: DESTROY_SCHEDULED")
	_, err = admin.DestroyCryptoKeyVersion(ctx, &kmspb.DestroyCryptoKeyVersionRequest{Name: v1})
	wantCode(t, err, codes.FailedPrecondition, "DESTROY_SCHEDULED")

	v, err = admin.RestoreCryptoKeyVersion(ctx, &kmspb.RestoreCryptoKeyVersionRequest{Name: v1})
	if err != nil || v.GetState() != kmspb.CryptoKeyVersion_DISABLED || v.GetDestroyTime() != nil {
		t.Fatalf("RestoreCryptoKeyVersion = %v, %v", v, err)
	}
	setState(t, admin, v1, kmspb.CryptoKeyVersion_ENABLED)
	if _, err := decrypt(app, key, ct, nil); err != nil {
		t.Fatal(err)
	}
}

func TestResources_ErrorsAsCloudKMS(t *testing.T) {
	t.Parallel()
	en := setup(t)
	admin := en.client(t, adminSA)
	key := en.key(t, admin)
	ctx := context.Background()
	_, err := admin.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: location, KeyRingId: "ring"})
	wantCode(t, err, codes.AlreadyExists, "KeyRing "+location+"/keyRings/ring already exists.")
	_, err = admin.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: location + "/keyRings/missing"})
	wantCode(t, err, codes.NotFound, "not found")
	_, err = admin.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: key + "/cryptoKeyVersions/1"})
	wantCode(t, err, codes.InvalidArgument, "does not match")
	_, err = admin.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: key + "/cryptoKeyVersions/9"})
	wantCode(t, err, codes.NotFound, "CryptoKeyVersion "+key+"/cryptoKeyVersions/9 not found.")

	sign, err := admin.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{
		Parent: location + "/keyRings/ring", CryptoKeyId: "signer",
		CryptoKey: &kmspb.CryptoKey{Purpose: kmspb.CryptoKey_ASYMMETRIC_SIGN, VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_EC_SIGN_P256_SHA256}},
	})
	if err != nil || sign.GetPurpose() != kmspb.CryptoKey_ASYMMETRIC_SIGN || sign.GetPrimary() != nil {
		t.Fatalf("CreateCryptoKey ASYMMETRIC_SIGN = %v, %v", sign, err)
	}
	bind(t, admin, sign.GetName(), "serviceAccount:"+adminSA, "roles/cloudkms.cryptoKeyEncrypterDecrypter")
	_, err = admin.Encrypt(ctx, &kmspb.EncryptRequest{Name: sign.GetName(), Plaintext: []byte("x")})
	wantCode(t, err, codes.InvalidArgument, "ENCRYPT_DECRYPT")
	stale, err := admin.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: key})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, admin, key, "serviceAccount:"+appSA, "roles/cloudkms.viewer")
	_, err = admin.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: key, Policy: stale})
	wantCode(t, err, codes.Aborted, "concurrent policy changes")
	_, err = admin.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: key, Policy: &iampb.Policy{
		Bindings: []*iampb.Binding{{Role: "roles/cloudkms.owner", Members: []string{"serviceAccount:" + appSA}}}}})
	wantCode(t, err, codes.InvalidArgument, "roles/cloudkms.owner")
	rings, err := admin.ListKeyRings(ctx, &kmspb.ListKeyRingsRequest{Parent: location}).Next()
	if err != nil || rings.GetName() != location+"/keyRings/ring" {
		t.Fatalf("ListKeyRings = %v, %v", rings, err)
	}
}

func TestBadTokens_AreUnauthenticated(t *testing.T) {
	t.Parallel()
	en := setup(t)
	ctx := context.Background()
	// A key file for appSA whose key the emulator never issued, claiming the real key's id:
	// a token signed, but wrongly.
	forgedFrom, err := otherKeyFile(t, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	forged := replaceField(t, string(mustRead(t, forgedFrom)), mustRead(t, filepath.Join(en.dir, appSA+".json")), "private_key_id")
	path := filepath.Join(t.TempDir(), "forged.json")
	if err := os.WriteFile(path, []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := en.dial(t, option.WithAuthCredentialsFile(option.ServiceAccount, path))
	_, err = bad.ListKeyRings(ctx, &kmspb.ListKeyRingsRequest{Parent: location}).Next()
	wantCode(t, err, codes.Unauthenticated, "invalid authentication credentials")

	anon := en.dial(t, option.WithoutAuthentication())
	_, err = anon.ListKeyRings(ctx, &kmspb.ListKeyRingsRequest{Parent: location}).Next()
	wantCode(t, err, codes.Unauthenticated, "missing required authentication credential")

	// An unsigned JWT (alg none) naming a real identity and its key id.
	kid := replaceField(t, `"private_key_id": "x"`, mustRead(t, filepath.Join(en.dir, adminSA+".json")), "private_key_id")
	kid = strings.TrimSuffix(strings.TrimPrefix(kid, `"private_key_id": "`), `"`)
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	now := time.Now().Unix()
	unsigned := seg(`{"alg":"none","typ":"JWT","kid":"`+kid+`"}`) + "." +
		seg(fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":"https://cloudkms.googleapis.com/","iat":%d,"exp":%d}`, adminSA, adminSA, now, now+3600)) + "."
	raw := en.dial(t, option.WithoutAuthentication(), option.WithGRPCDialOption(grpc.WithPerRPCCredentials(bearer(unsigned))))
	_, err = raw.ListKeyRings(ctx, &kmspb.ListKeyRingsRequest{Parent: location}).Next()
	wantCode(t, err, codes.Unauthenticated, "invalid authentication credentials")
}

// bearer sends a fixed bearer token.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// otherKeyFile makes another emulator's key file for appSA: a real RSA key the first emulator
// does not know.
func otherKeyFile(t *testing.T, dir string) (string, error) {
	t.Helper()
	emu, err := gcp.New(gcp.Options{CredentialsDir: dir, TokenURL: "https://127.0.0.1:1/token"})
	if err != nil {
		return "", err
	}
	return emu.AddIdentity(appSA, "")
}

// replaceField sets field of the key file JSON forged to its value in orig, so that the forged
// file claims the real key's id.
func replaceField(t *testing.T, forged string, orig []byte, field string) string {
	t.Helper()
	get := func(s string) string {
		_, after, _ := strings.Cut(s, `"`+field+`": "`)
		v, _, _ := strings.Cut(after, `"`)
		return v
	}
	return strings.Replace(forged, get(forged), get(string(orig)), 1)
}

func TestTokenEndpoint_ExchangesAssertionForAccessToken(t *testing.T) {
	t.Parallel()
	en := setup(t)
	// Google's auth library exchanges a JWT at the key file's token_uri when it does not sign
	// its own bearer tokens.
	creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, filepath.Join(en.dir, adminSA+".json"), &credentials.DetectOptions{
		Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"},
		Client: &http.Client{Transport: &http.Transport{TLSClientConfig: en.ca.ClientConfig()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := creds.Token(context.Background())
	if err != nil || !strings.HasPrefix(tok.Value, "ya29.") {
		t.Fatalf("token exchange = %v, %v", tok, err)
	}
	admin := en.client(t, adminSA, option.WithAuthCredentials(creds))
	if _, err := admin.CreateKeyRing(context.Background(), &kmspb.CreateKeyRingRequest{Parent: location, KeyRingId: "via-token"}); err != nil {
		t.Fatal(err)
	}
}

func TestState_RoundTrips(t *testing.T) {
	t.Parallel()
	en, _, app, key := appKey(t)
	ct := encrypt(t, app, key, []byte("kept"), nil).GetCiphertext()
	if en.changes.Load() == 0 {
		t.Fatal("OnChange was never called")
	}
	saved, err := en.emu.MarshalState()
	if err != nil {
		t.Fatal(err)
	}

	again := setup(t)
	if err := again.emu.UnmarshalState(saved); err != nil {
		t.Fatal(err)
	}
	// The restored emulator rewrote its identities' key files: the same keys, its own token_uri.
	app2 := again.client(t, appSA)
	if pt, err := decrypt(app2, key, ct, nil); err != nil || string(pt) != "kept" {
		t.Fatalf("Decrypt after restore = %q, %v", pt, err)
	}
	if err := again.emu.UnmarshalState([]byte(`{"version":99}`)); err == nil {
		t.Fatal("a state of another version was accepted")
	}
}
