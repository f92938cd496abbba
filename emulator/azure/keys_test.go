package azure_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/cmekd/cmekd/emulator/azure/azuretest"
)

const vaultURL = "https://cmekvault.vault.azure.net"

// rsaKey is the parameters of a software RSA key of the default size.
func rsaKey() azkeys.CreateKeyParameters {
	return azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}
}

// rsaOAEP256 is the parameters of a wrap (or unwrap, encrypt, decrypt) of value with RSA-OAEP-256.
func rsaOAEP256(value []byte) azkeys.KeyOperationParameters {
	return azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: value}
}

// TestGrantWrapRevoke: the platform's principal may wrap and unwrap only while a Crypto Service
// Encryption User assignment at the key's scope holds.
func TestGrantWrapRevoke(t *testing.T) {
	e := setup(t)
	admin := e.identity(t, "admin", "cmekvault")
	platform := e.identity(t, "platform", "")
	ctx := context.Background()
	adminKeys := e.keys(t, vaultURL, e.credential(t, admin))
	if _, err := adminKeys.CreateKey(ctx, "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSAHSM), KeySize: to.Ptr[int32](2048)}, nil); err != nil {
		t.Fatal(err)
	}
	pk := e.keys(t, vaultURL, e.credential(t, platform))
	_, err := pk.WrapKey(ctx, "cmk", "", rsaOAEP256(dek), nil)
	wantErr(t, err, http.StatusForbidden, "ForbiddenByRbac", "Action: 'Microsoft.KeyVault/vaults/keys/wrap/action'")

	rc := e.roles(t, admin)
	keyScope := vaultScope(admin, "cmekvault") + "/keys/cmk"
	name := assign(t, rc, admin, keyScope, roleCryptoServiceEncryptionUser, platform.ObjectID)
	if _, err := pk.GetKey(ctx, "cmk", "", nil); err != nil {
		t.Fatalf("get with the role: %v", err)
	}
	kid, wrapped := wrap(t, pk, "cmk", "", dek)
	if kidVersion(kid) == "" {
		t.Fatalf("wrap kid %q names no version", kid)
	}
	mustUnwrap(t, pk, kid, wrapped, dek)
	_, err = pk.Encrypt(ctx, "cmk", "", rsaOAEP256(dek), nil)
	wantErr(t, err, http.StatusForbidden, "Microsoft.KeyVault/vaults/keys/encrypt/action")

	if _, err := rc.Delete(ctx, keyScope, name, nil); err != nil {
		t.Fatal(err)
	}
	_, err = unwrap(pk, kid, wrapped)
	wantErr(t, err, http.StatusForbidden, "Microsoft.KeyVault/vaults/keys/unwrap/action", "Assignment: (not found)")
}

// TestRoleWithoutWrap: Key Vault Reader at the vault reads the key but may not wrap with it.
func TestRoleWithoutWrap(t *testing.T) {
	e := setup(t)
	admin := e.identity(t, "admin", "cmekvault")
	reader := e.identity(t, "reader", "")
	ctx := context.Background()
	if _, err := e.keys(t, vaultURL, e.credential(t, admin)).CreateKey(ctx, "cmk", rsaKey(), nil); err != nil {
		t.Fatal(err)
	}
	assign(t, e.roles(t, admin), admin, vaultScope(admin, "cmekvault"), roleReader, reader.ObjectID)
	rk := e.keys(t, vaultURL, e.credential(t, reader))
	if _, err := rk.GetKey(ctx, "cmk", "", nil); err != nil {
		t.Fatalf("reader get: %v", err)
	}
	_, err := rk.WrapKey(ctx, "cmk", "", rsaOAEP256([]byte("k")), nil)
	wantErr(t, err, http.StatusForbidden, "Microsoft.KeyVault/vaults/keys/wrap/action")
	// Without Owner, the reader may not assign roles either.
	_, err = e.roles(t, reader).Create(ctx, vaultScope(admin, "cmekvault"), azuretest.GUID(t), azuretest.Assignment(admin.SubscriptionID, roleCryptoServiceEncryptionUser, reader.ObjectID), nil)
	wantErr(t, err, http.StatusForbidden, "AuthorizationFailed", "Microsoft.Authorization/roleAssignments/write")
}

// TestDisabledExpiredRotated: attributes bind the crypto operations as Key Vault's do, and a
// rotated key still unwraps with the version named by the kid that wrapped.
func TestDisabledExpiredRotated(t *testing.T) {
	e := setup(t)
	_, kc, kid, wrapped := e.wrappedDEK(t)
	ctx := context.Background()
	update := func(attrs azkeys.KeyAttributes) {
		t.Helper()
		if _, err := kc.UpdateKey(ctx, "cmk", "", azkeys.UpdateKeyParameters{KeyAttributes: &attrs}, nil); err != nil {
			t.Fatal(err)
		}
	}
	update(azkeys.KeyAttributes{Enabled: to.Ptr(false)})
	_, err := unwrap(kc, kid, wrapped)
	wantErr(t, err, http.StatusForbidden, "KeyDisabled", "Operation unwrapKey is not allowed on a disabled key.")
	update(azkeys.KeyAttributes{Enabled: to.Ptr(true), Expires: to.Ptr(time.Now().Add(-time.Hour))})
	_, err = kc.WrapKey(ctx, "cmk", "", rsaOAEP256(dek), nil)
	wantErr(t, err, http.StatusForbidden, "KeyExpired")
	mustUnwrap(t, kc, kid, wrapped, dek) // data sealed before expiry stays readable
	update(azkeys.KeyAttributes{Expires: to.Ptr(time.Now().Add(time.Hour)), NotBefore: to.Ptr(time.Now().Add(30 * time.Minute))})
	_, err = kc.WrapKey(ctx, "cmk", "", rsaOAEP256(dek), nil)
	wantErr(t, err, http.StatusForbidden, "KeyNotYetValid")

	rot, err := kc.RotateKey(ctx, "cmk", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Key.KID.Version() == kidVersion(kid) {
		t.Fatal("rotation kept the version")
	}
	kid2, wrapped2 := wrap(t, kc, "cmk", "", dek)
	if kidVersion(kid2) != rot.Key.KID.Version() {
		t.Fatalf("wrap after rotation used %s, want the new version %s", kid2, rot.Key.KID.Version())
	}
	mustUnwrap(t, kc, kid, wrapped, dek)
	mustUnwrap(t, kc, kid2, wrapped2, dek)
}

// TestSoftDeleteRecoverPurge: a soft-deleted key is gone from /keys but found in /deletedkeys and
// blocks its name; recover brings it back whole; purge ends it.
func TestSoftDeleteRecoverPurge(t *testing.T) {
	e := setup(t)
	admin := e.identity(t, "admin", "cmekvault")
	ctx := context.Background()
	kc := e.keys(t, vaultURL, e.credential(t, admin))
	create := func() error {
		_, err := kc.CreateKey(ctx, "cmk", rsaKey(), nil)
		return err
	}
	if err := create(); err != nil {
		t.Fatal(err)
	}
	kid, wrapped := wrap(t, kc, "cmk", "", dek)
	del, err := kc.DeleteKey(ctx, "cmk", nil)
	if err != nil {
		t.Fatal(err)
	}
	if del.RecoveryID == nil || del.ScheduledPurgeDate == nil || !del.ScheduledPurgeDate.After(time.Now().Add(89*24*time.Hour)) {
		t.Fatalf("deleted key bundle lacks recovery id or purge date: %+v", del)
	}
	_, err = kc.GetKey(ctx, "cmk", "", nil)
	wantErr(t, err, http.StatusNotFound, "KeyNotFound", "If you recently deleted this key you may be able to recover it")
	if _, err := kc.GetDeletedKey(ctx, "cmk", nil); err != nil {
		t.Fatalf("soft-deleted key not among deleted keys: %v", err)
	}
	wantErr(t, create(), http.StatusConflict, "ObjectIsDeletedButRecoverable", "deleted but recoverable state")
	if _, err := kc.RecoverDeletedKey(ctx, "cmk", nil); err != nil {
		t.Fatal(err)
	}
	mustUnwrap(t, kc, kid, wrapped, dek)
	if _, err := kc.DeleteKey(ctx, "cmk", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.PurgeDeletedKey(ctx, "cmk", nil); err != nil {
		t.Fatal(err)
	}
	_, err = kc.GetDeletedKey(ctx, "cmk", nil)
	wantErr(t, err, http.StatusNotFound, "KeyNotFound", "Deleted Key not found: cmk")
	_, err = kc.GetKey(ctx, "cmk", "", nil)
	wantErr(t, err, http.StatusNotFound, "KeyNotFound")
	if err := create(); err != nil {
		t.Fatalf("a purged name is free again: %v", err)
	}
}

// TestManagedHSMOctKeyWrap: an oct-HSM key on a Managed HSM wraps with A256KW (RFC 3394), and
// a vault refuses symmetric keys.
func TestManagedHSMOctKeyWrap(t *testing.T) {
	e := setup(t)
	admin := e.identity(t, "admin", "cmekvault")
	if err := e.em.AddManagedHSM("admin", "cmekhsm"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hc := e.keys(t, "https://cmekhsm.managedhsm.azure.net", e.credential(t, admin))
	if _, err := hc.CreateKey(ctx, "aes", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOctHSM), KeySize: to.Ptr[int32](256)}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := hc.WrapKey(ctx, "aes", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256KW), Value: dek}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Result) != len(dek)+8 {
		t.Fatalf("A256KW output is %d bytes, want %d", len(res.Result), len(dek)+8)
	}
	back, err := hc.UnwrapKey(ctx, "aes", res.KID.Version(), azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmA256KW), Value: res.Result}, nil)
	if err != nil || string(back.Result) != string(dek) {
		t.Fatalf("unwrap: %v", err)
	}
	_, err = e.keys(t, vaultURL, e.credential(t, admin)).CreateKey(ctx, "aes", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeOctHSM)}, nil)
	wantErr(t, err, http.StatusBadRequest, "BadParameter")
	_, err = e.keys(t, vaultURL, e.credential(t, admin)).CreateKey(ctx, "ec", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC)}, nil)
	if err != nil {
		t.Fatalf("EC key: %v", err)
	}
	_, err = e.keys(t, vaultURL, e.credential(t, admin)).WrapKey(ctx, "ec", "", rsaOAEP256(dek), nil)
	wantErr(t, err, http.StatusForbidden, "wrapKey")
}
