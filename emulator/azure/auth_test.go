package azure_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/cmekd/cmekd/emulator/azure"
	"github.com/cmekd/cmekd/emulator/azure/azuretest"
)

// staticToken is a credential that always presents one token, so that tests can send tokens
// the emulator did not issue, or issued for another audience.
type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestTokensRefused: forged, wrong-audience and expired tokens get Key Vault's and Resource
// Manager's 401s.
func TestTokensRefused(t *testing.T) {
	e := setup(t)
	admin := e.identity(t, "admin", "cmekvault")
	ctx := context.Background()
	cred := e.credential(t, admin)
	armTok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.keys(t, vaultURL, staticToken(armTok.Token)).GetKey(ctx, "cmk", "", nil)
	wantErr(t, err, http.StatusUnauthorized, "AKV10022: Invalid audience. Expected https://vault.azure.net")

	parts := strings.Split(armTok.Token, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	_, err = e.keys(t, vaultURL, staticToken(forged)).GetKey(ctx, "cmk", "", nil)
	wantErr(t, err, http.StatusUnauthorized, "Unauthorized")
	rcForged := azuretest.Roles(t, admin.SubscriptionID, staticToken(forged), e.options())
	_, err = rcForged.Get(ctx, vaultScope(admin, "cmekvault"), azuretest.GUID(t), nil)
	wantErr(t, err, http.StatusUnauthorized, "InvalidAuthenticationToken")

	kc := e.keys(t, vaultURL, cred)
	if _, err := kc.CreateKey(ctx, "cmk", rsaKey(), nil); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(2 * time.Hour) // the SDK's cached token is now past its expiry for the emulator
	_, err = kc.GetKey(ctx, "cmk", "", nil)
	wantErr(t, err, http.StatusUnauthorized, "Token has expired.")
	_, err = azuretest.Roles(t, admin.SubscriptionID, staticToken(armTok.Token), e.options()).Get(ctx, vaultScope(admin, "cmekvault"), azuretest.GUID(t), nil)
	wantErr(t, err, http.StatusUnauthorized, "ExpiredAuthenticationToken")
}

// TestAssignmentsListAndFilter: list at a scope shows assignments at, above and below it, and the
// principalId filter narrows it.
func TestAssignmentsListAndFilter(t *testing.T) {
	e := setup(t)
	admin := e.identity(t, "admin", "cmekvault")
	platform := e.identity(t, "platform", "")
	rc := e.roles(t, admin)
	ctx := context.Background()
	keyScope := vaultScope(admin, "cmekvault") + "/keys/cmk"
	name := assign(t, rc, admin, keyScope, roleCryptoServiceEncryptionUser, platform.ObjectID)
	got, err := rc.Get(ctx, keyScope, name, nil)
	if err != nil || *got.Properties.PrincipalID != platform.ObjectID || *got.Properties.Scope != keyScope {
		t.Fatalf("get: %v %+v", err, got)
	}
	_, err = rc.Create(ctx, keyScope, azuretest.GUID(t), azuretest.Assignment(admin.SubscriptionID, roleCryptoServiceEncryptionUser, platform.ObjectID), nil)
	wantErr(t, err, http.StatusConflict, "RoleAssignmentExists")
	count := func(scope, filter string) int {
		t.Helper()
		n := 0
		pager := rc.NewListForScopePager(scope, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr(filter)})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.Value)
		}
		return n
	}
	// admin: Owner of the group, Key Vault Administrator of the vault; platform: one at the key.
	if n := count(vaultScope(admin, "cmekvault"), ""); n != 3 {
		t.Fatalf("vault scope lists %d assignments, want 3", n)
	}
	if n := count(vaultScope(admin, "cmekvault"), "principalId eq '"+platform.ObjectID+"'"); n != 1 {
		t.Fatalf("filtered list has %d, want 1", n)
	}
	_, err = rc.Create(ctx, vaultScope(admin, "nosuchvault"), azuretest.GUID(t), azuretest.Assignment(admin.SubscriptionID, roleReader, platform.ObjectID), nil)
	wantErr(t, err, http.StatusNotFound, "ResourceNotFound")
}

// TestStateRoundTrip: a second emulator loaded from the first's state serves the same identities,
// keys and assignments.
func TestStateRoundTrip(t *testing.T) {
	e := setup(t)
	admin, _, kid, wrapped := e.wrappedDEK(t)
	ctx := context.Background()
	data, err := e.em.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	changes := 0
	em2, err := azure.New(azure.Options{Now: e.clock.now, CredentialsDir: t.TempDir(), OnChange: func() { changes++ }})
	if err != nil {
		t.Fatal(err)
	}
	if err := em2.UnmarshalState(data); err != nil {
		t.Fatal(err)
	}
	again, err := em2.AddIdentity("admin", "cmekvault")
	if err != nil || again.ClientSecret != admin.ClientSecret {
		t.Fatalf("identity not kept across state: %v", err)
	}
	e.client = e.serve(t, em2)
	kc2 := e.keys(t, vaultURL, e.credential(t, admin))
	mustUnwrap(t, kc2, kid, wrapped, dek)
	if _, err := kc2.RotateKey(ctx, "cmk", nil); err != nil {
		t.Fatal(err)
	}
	if changes == 0 {
		t.Fatal("OnChange not called")
	}
	if err := em2.UnmarshalState([]byte(`{"tenant_id":""}`)); err == nil {
		t.Fatal("incomplete state accepted")
	}
}
