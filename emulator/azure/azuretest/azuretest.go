// Package azuretest makes clients of the emulator's Azure with the clouds' official SDK, for the
// tests of the emulator and of what uses it: an identity's credential, Key Vault and role
// assignment clients, and role assignments.
package azuretest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/cmekd/cmekd/emulator/azure"
)

// Options are client options that send through c and never retry, so that a test sees every answer.
func Options(c *http.Client) azcore.ClientOptions {
	return azcore.ClientOptions{Transport: c, Retry: policy.RetryOptions{MaxRetries: -1}}
}

// Credential is id's client secret credential.
func Credential(t testing.TB, id azure.Identity, opts azcore.ClientOptions) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(id.TenantID, id.ClientID, id.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	return must(t, cred, err)
}

// Keys is a Key Vault keys client of the vault (or Managed HSM) at vaultURL, calling as cred.
func Keys(t testing.TB, vaultURL string, cred azcore.TokenCredential, opts azcore.ClientOptions) *azkeys.Client {
	t.Helper()
	c, err := azkeys.NewClient(vaultURL, cred, &azkeys.ClientOptions{ClientOptions: opts})
	return must(t, c, err)
}

// Roles is a role assignments client of subscription, calling as cred.
func Roles(t testing.TB, subscription string, cred azcore.TokenCredential, opts azcore.ClientOptions) *armauthorization.RoleAssignmentsClient {
	t.Helper()
	c, err := armauthorization.NewRoleAssignmentsClient(subscription, cred, &arm.ClientOptions{ClientOptions: opts})
	return must(t, c, err)
}

// must is v, made for t; t fails if making it failed.
func must[T any](t testing.TB, v T, err error) T {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Assignment is an assignment of subscription's role definition roleGUID to the service
// principal whose object id is principal.
func Assignment(subscription, roleGUID, principal string) armauthorization.RoleAssignmentCreateParameters {
	return armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr("/subscriptions/" + subscription + "/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID),
		PrincipalID:      to.Ptr(principal),
		PrincipalType:    to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
	}}
}

// GUID is a fresh random (version 4) GUID, as role assignments are named.
func GUID(t testing.TB) string {
	t.Helper()
	h := Hex(t)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

// Hex is 16 random bytes in hex, for names no other test uses.
func Hex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
