package azure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/cmekd/cmekd/emulator/azure/azuretest"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/provider/azure"
	"github.com/cmekd/cmekd/internal/verify"
)

var orgCtx = map[string]string{"cmekd:org": "org-1"}

// wantKMS checks that err is a *kms.Error of code (and action, when given).
func wantKMS(t testing.TB, err error, code, action string) *kms.Error {
	t.Helper()
	var ke *kms.Error
	if !errors.As(err, &ke) || ke.Code != code || action != "" && ke.Action != action {
		t.Fatalf("want kms error %s %s, got %v", code, action, err)
	}
	return ke
}

func kidOf(t testing.TB, wrapped []byte) string {
	t.Helper()
	var env struct{ KID, Alg string }
	if err := json.Unmarshal(wrapped, &env); err != nil {
		t.Fatal(err)
	}
	return env.KID
}

// Rotation adds a version that wraps from then on; data keys wrapped by the old one stay readable.
func TestEnvelope_RotationKeepsOldDataKeysReadable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.usableKey("cmk")
	ctx := context.Background()
	dk1, w1, err := f.p.GenerateDataKey(ctx, id, orgCtx)
	if err != nil || len(dk1) != 32 {
		t.Fatalf("generate: %d bytes, %v", len(dk1), err)
	}
	if _, err := f.keys.RotateKey(ctx, "cmk", nil); err != nil {
		t.Fatal(err)
	}
	dk2, w2, err := f.p.GenerateDataKey(ctx, id, orgCtx)
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, w1) == kidOf(t, w2) || !strings.HasPrefix(kidOf(t, w1), id+"/") {
		t.Fatalf("kids %s and %s: want two versions of %s", kidOf(t, w1), kidOf(t, w2), id)
	}
	for _, c := range []struct{ dk, wrapped []byte }{{dk1, w1}, {dk2, w2}} {
		got, err := f.p.Decrypt(ctx, id, c.wrapped, orgCtx)
		if err != nil || !bytes.Equal(got, c.dk) {
			t.Fatalf("decrypt after rotation: %v", err)
		}
	}
	again, err := f.p.ReEncrypt(ctx, id, w1, orgCtx, id, orgCtx)
	if err != nil || kidOf(t, again) != kidOf(t, w2) {
		t.Fatalf("re-encrypt: %v (kid %s, want the current %s)", err, kidOf(t, again), kidOf(t, w2))
	}
}

// The data path's failures carry the codes the monitor and the keyring act on.
func TestEnvelope_FailuresAreClassified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.rsaKey("cmk")
	ctx := context.Background()
	_, _, err := f.p.GenerateDataKey(ctx, id, orgCtx)
	wantKMS(t, err, domain.CodeAccessDenied, "Microsoft.KeyVault/vaults/keys/wrap/action")
	name := f.assign(f.scope("cmk"), azure.RoleCryptoServiceEncryptionUserID)
	_, wrapped, err := f.p.GenerateDataKey(ctx, id, orgCtx)
	if err != nil {
		t.Fatal(err)
	}
	f.update("cmk", azkeys.KeyAttributes{Enabled: to.Ptr(false)})
	_, err = f.p.Decrypt(ctx, id, wrapped, orgCtx)
	wantKMS(t, err, domain.CodeKeyDisabled, "")
	f.update("cmk", azkeys.KeyAttributes{Enabled: to.Ptr(true)})
	f.unassign(f.scope("cmk"), name)
	_, err = f.p.Decrypt(ctx, id, wrapped, orgCtx)
	wantKMS(t, err, domain.CodeAccessDenied, "Microsoft.KeyVault/vaults/keys/unwrap/action")

	other := f.usableKey("other")
	_, err = f.p.Decrypt(ctx, other, wrapped, orgCtx)
	wantKMS(t, err, domain.CodeInvalidCiphertext, "")
	_, err = f.p.Decrypt(ctx, other, []byte("not an envelope"), orgCtx)
	wantKMS(t, err, domain.CodeInvalidCiphertext, "")
	_, err = f.p.Encrypt(ctx, "https://nope.example.com/keys/x", []byte("k"), orgCtx)
	wantKMS(t, err, domain.CodeInvalidKeyID, "")
}

// On a Managed HSM an oct-HSM key wraps with A256KW, plaintexts of any length up to a data key's
// included; the emulator takes the HSM's role assignments from Resource Manager.
func TestEnvelope_ManagedHSMOctKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hsm := "hsm" + azuretest.Hex(t)[:10]
	if err := emu.em.AddManagedHSM(f.adminName, hsm); err != nil {
		t.Fatal(err)
	}
	hsmURL := "https://" + hsm + ".managedhsm.azure.net"
	hk, err := azkeys.NewClient(hsmURL, f.adminCred, &azkeys.ClientOptions{ClientOptions: emu.opts})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := hk.CreateKey(ctx, "oct", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOctHSM), KeySize: to.Ptr[int32](256)}, nil); err != nil {
		t.Fatal(err)
	}
	f.assign("/subscriptions/"+f.admin.SubscriptionID+"/resourceGroups/"+f.admin.ResourceGroup+"/providers/Microsoft.KeyVault/managedHSMs/"+hsm+"/keys/oct", roleHSMServiceID)
	id := hsmURL + "/keys/oct"
	wantOK(t, f.verify(id))
	dk, wrapped, err := f.p.GenerateDataKey(ctx, id, orgCtx)
	if err != nil || !strings.Contains(string(wrapped), `"alg":"A256KW"`) {
		t.Fatalf("generate: %v %s", err, wrapped)
	}
	for _, want := range [][]byte{dk, []byte("twenty bytes of data"), []byte("k")} {
		w, err := f.p.Encrypt(ctx, id, want, orgCtx)
		if err != nil {
			t.Fatalf("encrypt %d bytes: %v", len(want), err)
		}
		got, err := f.p.Decrypt(ctx, id, w, orgCtx)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("decrypt %d bytes: %q, %v", len(want), got, err)
		}
	}
}

// Azure's throttling and 5xx are transient, and verification says so.
func TestVerify_ThrottlingAndOutagesAreTransient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.usableKey("cmk")
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		addr, stop := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.Host, ".vault.azure.net") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"error":{"code":"Throttled","message":"busy"}}`))
				return
			}
			emu.em.ServeHTTP(w, r)
		}))
		p := newProvider(t, addr, azuretest.Credential(t, f.platform, emu.opts), f.platform.ObjectID)
		r := p.Verify(context.Background(), verify.Request{Key: id, Steps: verify.Health})
		stop()
		wantFailure(t, r, azure.CheckGetKey, domain.CodeKMSUnavailable)
		if !r.Transient() {
			t.Fatalf("%d: report not transient: %s", status, describe(r))
		}
	}
	p := newProvider(t, "127.0.0.1:1", azuretest.Credential(t, f.platform, emu.opts), f.platform.ObjectID)
	_, _, err := p.GenerateDataKey(context.Background(), id, orgCtx)
	wantKMS(t, err, domain.CodeKMSUnavailable, "")
}
