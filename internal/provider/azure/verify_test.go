package azure_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/provider/azure"
	"github.com/cmekd/cmekd/internal/verify"
)

const (
	roleReaderID        = "21090545-7ca7-4776-b22c-e363652d74d2"
	roleAdministratorID = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	roleHSMServiceID    = "33413926-3206-4cdd-b39a-83574fe37a17"
)

func TestVerify_PassesWithTheOneRoleAssignmentAndNotWithout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.rsaKey("cmk")
	c := wantFailure(t, f.verify(id), azure.CheckGetKey, domain.CodeAccessDenied)
	if c.Action != "Microsoft.KeyVault/vaults/keys/read" {
		t.Fatalf("access_denied names %q, want the read data action", c.Action)
	}
	wantIn(t, c.Message, `az role assignment create --role "Key Vault Crypto Service Encryption User"`, f.platform.ObjectID, "--scope")

	name := f.assign(f.scope("cmk"), azure.RoleCryptoServiceEncryptionUserID)
	r := f.verify(id)
	wantOK(t, r)
	if r.KeyARN != id {
		t.Fatalf("report names %q, want %q", r.KeyARN, id)
	}
	f.unassign(f.scope("cmk"), name)
	wantFailure(t, f.verify(id), azure.CheckGetKey, domain.CodeAccessDenied)
}

func TestVerify_ReaderRoleFailsWrapNamingTheAction(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.rsaKey("cmk")
	f.assign(f.scope("cmk"), roleReaderID)
	c := wantFailure(t, f.verify(id), azure.CheckWrapKey, domain.CodeAccessDenied)
	if c.Action != "Microsoft.KeyVault/vaults/keys/wrap/action" {
		t.Fatalf("access_denied names %q, want the wrap data action", c.Action)
	}
}

func TestVerify_KeyStateOutsideItsWindowOrDisabled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name  string
		attrs azkeys.KeyAttributes
		code  string
		fix   string
	}{
		{"disabled", azkeys.KeyAttributes{Enabled: to.Ptr(false)}, domain.CodeKeyDisabled, "--enabled true"},
		{"expired", azkeys.KeyAttributes{Expires: &past}, domain.CodeKeyExpired, "--expires"},
		{"early", azkeys.KeyAttributes{NotBefore: &future}, domain.CodeKeyNotYetValid, "--not-before"},
	} {
		f.usableKey(tc.name)
		f.update(tc.name, tc.attrs)
		c := wantFailure(t, f.verify(f.vaultURL()+"/keys/"+tc.name), azure.CheckKeyState, tc.code)
		wantIn(t, c.Message, "az keyvault key set-attributes --vault-name "+f.vault+" --name "+tc.name, tc.fix)
	}
}

func TestVerify_WrongKeyTypeAndOps(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ec := f.createKey("ec", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256)})
	f.assign(f.scope("ec"), azure.RoleCryptoServiceEncryptionUserID)
	c := wantFailure(t, f.verify(ec), azure.CheckKeyType, domain.CodeWrongKeyType)
	wantIn(t, c.Message, "EC", "az keyvault key create")

	id := f.usableKey("signonly")
	f.update("signonly", azkeys.KeyAttributes{}, azkeys.KeyOperationSign, azkeys.KeyOperationVerify, azkeys.KeyOperationUnwrapKey)
	c = wantFailure(t, f.verify(id), azure.CheckKeyOps, domain.CodeKeyOpsNotAllowed)
	wantIn(t, c.Message, "--ops sign verify unwrapKey wrapKey")
}

// A soft-deleted key is missing to the platform's one role, which cannot read deleted keys: the
// advice then covers recovery. Where the platform may read deleted keys, it is pending deletion.
// Recovered it passes again; purged it is not found.
func TestVerify_SoftDeleteRecoverPurge(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.usableKey("cmk")
	ctx := context.Background()
	if _, err := f.keys.DeleteKey(ctx, "cmk", nil); err != nil {
		t.Fatal(err)
	}
	c := wantFailure(t, f.verify(id), azure.CheckGetKey, domain.CodeKeyNotFound)
	wantIn(t, c.Message, "az keyvault key recover --vault-name "+f.vault+" --name cmk")

	seer := f.assign("/subscriptions/"+f.admin.SubscriptionID+"/resourceGroups/"+f.admin.ResourceGroup+"/providers/Microsoft.KeyVault/vaults/"+f.vault, roleAdministratorID)
	c = wantFailure(t, f.verify(id), azure.CheckGetKey, domain.CodeKeyPendingDeletion)
	wantIn(t, c.Message, "can be recovered until", "az keyvault key recover --vault-name "+f.vault+" --name cmk")

	if _, err := f.keys.RecoverDeletedKey(ctx, "cmk", nil); err != nil {
		t.Fatal(err)
	}
	wantOK(t, f.verify(id))
	if _, err := f.keys.DeleteKey(ctx, "cmk", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.PurgeDeletedKey(ctx, "cmk", nil); err != nil {
		t.Fatal(err)
	}
	c = wantFailure(t, f.verify(id), azure.CheckGetKey, domain.CodeKeyNotFound)
	wantIn(t, c.Message, "purged or never created")
	f.unassign("/subscriptions/"+f.admin.SubscriptionID+"/resourceGroups/"+f.admin.ResourceGroup+"/providers/Microsoft.KeyVault/vaults/"+f.vault, seer)
}

func TestVerify_InvalidIDSkipsTheRest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	wantFailure(t, f.verify(f.vaultURL()+"/keys/cmk/0123456789abcdef0123456789abcdef"), azure.CheckKeyID, domain.CodeKeyVersionNotAllowed)
	r := f.p.Verify(context.Background(), verify.Request{Key: f.vaultURL() + "/keys/cmk", Region: "mars-1", Steps: verify.Full})
	wantFailure(t, r, azure.CheckKeyID, domain.CodeUnsupportedRegion)
}

// The probe does not judge the region again: a linked key stays healthy when the deployment stops
// serving its region.
func TestVerify_HealthIgnoresTheRegion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.usableKey("cmk")
	wantOK(t, f.p.Verify(context.Background(), verify.Request{Key: id, Region: "mars-1", Steps: verify.Health}))
}
