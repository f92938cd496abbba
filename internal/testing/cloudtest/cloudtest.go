// Package cloudtest starts the emulator's Google Cloud KMS and Azure for end-to-end tests, with a
// customer who administers keys through the clouds' official SDKs and a platform identity whose
// credentials cmekd is configured with, as a deployment would be.
package cloudtest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	azemu "github.com/cmekd/cmekd/emulator/azure"
	"github.com/cmekd/cmekd/emulator/azure/azuretest"
	gcpemu "github.com/cmekd/cmekd/emulator/gcp"
	"github.com/cmekd/cmekd/emulator/tlsca"
)

// start makes a test's CA in a new directory, and an emulator with newEmu, which writes its
// identities' credentials there.
func start[E any](t testing.TB, newEmu func(credentialsDir string) (E, error)) (E, *tlsca.CA, string) {
	t.Helper()
	dir := t.TempDir()
	ca, err := tlsca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	emu, err := newEmu(dir)
	if err != nil {
		t.Fatal(err)
	}
	return emu, ca, dir
}

// GCP is the emulator's Google Cloud KMS for one test.
type GCP struct {
	// Addr is CMEKD_GCP_KMS_ENDPOINT; CAFile CMEKD_TLS_CA_FILE; PlatformKeyFile is the platform's
	// service-account key file (GOOGLE_APPLICATION_CREDENTIALS) and Platform its member
	// (CMEKD_GCP_PRINCIPAL).
	Addr, CAFile, PlatformKeyFile, Platform string
	// Admin is the customer's client, administrator of Project.
	Admin   *kms.KeyManagementClient
	Project string
}

// StartGCP serves Google Cloud KMS over TLS for t.
func StartGCP(t testing.TB) *GCP {
	t.Helper()
	emu, ca, dir := start(t, func(dir string) (*gcpemu.Emulator, error) { return gcpemu.New(gcpemu.Options{CredentialsDir: dir}) })
	g := &GCP{CAFile: filepath.Join(dir, tlsca.CAFile), Project: "acme", Platform: "serviceAccount:cmekd@platform.iam.gserviceaccount.com"}
	admin, err := emu.AddIdentity("admin@acme.iam.gserviceaccount.com", g.Project)
	if err != nil {
		t.Fatal(err)
	}
	if g.PlatformKeyFile, err = emu.AddIdentity("cmekd@platform.iam.gserviceaccount.com", ""); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ca.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = emu.Serve(ln, cfg) }()
	t.Cleanup(func() { _ = emu.Close() })
	g.Addr = ln.Addr().String()
	g.Admin, err = kms.NewKeyManagementClient(context.Background(), option.WithEndpoint(g.Addr),
		option.WithAuthCredentialsFile(option.ServiceAccount, admin),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(ca.ClientConfig()))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Admin.Close() })
	return g
}

// Key makes a key ring and a symmetric CryptoKey in location and returns the key's name.
func (g *GCP) Key(t testing.TB, location, ring, key string) string {
	t.Helper()
	ctx := context.Background()
	parent := "projects/" + g.Project + "/locations/" + location
	r, err := g.Admin.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: parent, KeyRingId: ring})
	if err != nil {
		t.Fatal(err)
	}
	k, err := g.Admin.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: r.GetName(), CryptoKeyId: key,
		CryptoKey: &kmspb.CryptoKey{Purpose: kmspb.CryptoKey_ENCRYPT_DECRYPT}})
	if err != nil {
		t.Fatal(err)
	}
	return k.GetName()
}

// Bindings are IAM bindings as cmekd's access JSON gives them.
type Bindings struct {
	Bindings []struct {
		Role    string   `json:"role"`
		Members []string `json:"members"`
	} `json:"bindings"`
}

// SetBindings replaces the key's IAM policy by the bindings in accessJSON, skipping roles in drop.
func (g *GCP) SetBindings(t testing.TB, key string, accessJSON []byte, drop ...string) {
	t.Helper()
	var b Bindings
	if err := json.Unmarshal(accessJSON, &b); err != nil {
		t.Fatalf("access JSON %s: %v", accessJSON, err)
	}
	ctx := context.Background()
	cur, err := g.Admin.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: key})
	if err != nil {
		t.Fatal(err)
	}
	p := &iampb.Policy{Etag: cur.GetEtag()}
	for _, x := range b.Bindings {
		if !slices.Contains(drop, x.Role) {
			p.Bindings = append(p.Bindings, &iampb.Binding{Role: x.Role, Members: x.Members})
		}
	}
	if _, err := g.Admin.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: key, Policy: p}); err != nil {
		t.Fatal(err)
	}
}

// Primary is the name of the key's primary version.
func (g *GCP) Primary(t testing.TB, key string) string {
	t.Helper()
	k, err := g.Admin.GetCryptoKey(context.Background(), &kmspb.GetCryptoKeyRequest{Name: key})
	if err != nil {
		t.Fatal(err)
	}
	return k.GetPrimary().GetName()
}

// SetVersionEnabled enables or disables a key version.
func (g *GCP) SetVersionEnabled(t testing.TB, version string, enabled bool) {
	t.Helper()
	state := kmspb.CryptoKeyVersion_DISABLED
	if enabled {
		state = kmspb.CryptoKeyVersion_ENABLED
	}
	_, err := g.Admin.UpdateCryptoKeyVersion(context.Background(), &kmspb.UpdateCryptoKeyVersionRequest{
		CryptoKeyVersion: &kmspb.CryptoKeyVersion{Name: version, State: state}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"state"}}})
	if err != nil {
		t.Fatal(err)
	}
}

// Rotate makes a new version of key its primary.
func (g *GCP) Rotate(t testing.TB, key string) {
	t.Helper()
	ctx := context.Background()
	v, err := g.Admin.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: key})
	if err != nil {
		t.Fatal(err)
	}
	id := filepath.Base(v.GetName())
	if _, err := g.Admin.UpdateCryptoKeyPrimaryVersion(ctx, &kmspb.UpdateCryptoKeyPrimaryVersionRequest{Name: key, CryptoKeyVersionId: id}); err != nil {
		t.Fatal(err)
	}
}

// ScheduleDestruction schedules a key version for destruction.
func (g *GCP) ScheduleDestruction(t testing.TB, version string) {
	t.Helper()
	if _, err := g.Admin.DestroyCryptoKeyVersion(context.Background(), &kmspb.DestroyCryptoKeyVersionRequest{Name: version}); err != nil {
		t.Fatal(err)
	}
}

// Azure is the emulator's Azure for one test.
type Azure struct {
	// Endpoint is CMEKD_AZURE_ENDPOINT; CAFile CMEKD_TLS_CA_FILE; Platform the platform's service
	// principal (its object id is CMEKD_AZURE_PRINCIPAL; its secret goes to AZURE_* variables).
	Endpoint, CAFile string
	Platform         azemu.Identity
	// Vault is the customer's vault, Keys its client as the vault's administrator, Roles the
	// customer's role assignments client.
	Vault string
	Keys  *azkeys.Client
	Roles *armauthorization.RoleAssignmentsClient
	admin azemu.Identity
}

// StartAzure serves Azure over TLS for t.
func StartAzure(t testing.TB) *Azure {
	t.Helper()
	emu, ca, dir := start(t, func(dir string) (*azemu.Emulator, error) { return azemu.New(azemu.Options{CredentialsDir: dir}) })
	a := &Azure{CAFile: filepath.Join(dir, tlsca.CAFile), Vault: "acme-vault"}
	var err error
	if a.admin, err = emu.AddIdentity("admin", a.Vault); err != nil {
		t.Fatal(err)
	}
	if a.Platform, err = emu.AddIdentity("cmekd-platform", ""); err != nil {
		t.Fatal(err)
	}
	var stop func()
	if a.Endpoint, stop, err = ca.Serve(emu); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	opts := azuretest.Options(&http.Client{Transport: ca.Transport(a.Endpoint)})
	cred := azuretest.Credential(t, a.admin, opts)
	a.Keys = azuretest.Keys(t, "https://"+a.Vault+".vault.azure.net", cred, opts)
	a.Roles = azuretest.Roles(t, a.admin.SubscriptionID, cred, opts)
	return a
}

// Env sets the AZURE_* variables of the platform's environment credential for t.
func (a *Azure) Env(t *testing.T) {
	t.Setenv("AZURE_TENANT_ID", a.Platform.TenantID)
	t.Setenv("AZURE_CLIENT_ID", a.Platform.ClientID)
	t.Setenv("AZURE_CLIENT_SECRET", a.Platform.ClientSecret)
}

// Key makes an RSA 2048 key in the vault and returns its versionless id.
func (a *Azure) Key(t testing.TB, name string) string {
	t.Helper()
	kty := azkeys.KeyTypeRSA
	if _, err := a.Keys.CreateKey(context.Background(), name, azkeys.CreateKeyParameters{Kty: &kty, KeySize: to.Ptr[int32](2048)}, nil); err != nil {
		t.Fatal(err)
	}
	return "https://" + a.Vault + ".vault.azure.net/keys/" + name
}

// Assign makes the role assignment cmekd's access JSON describes (its placeholders filled in with
// the customer's subscription and resource group) and returns its id.
func (a *Azure) Assign(t testing.TB, accessJSON []byte) string {
	t.Helper()
	var as struct {
		RoleDefinitionID string `json:"roleDefinitionId"`
		PrincipalID      string `json:"principalId"`
		Scope            string `json:"scope"`
	}
	if err := json.Unmarshal(accessJSON, &as); err != nil {
		t.Fatalf("access JSON %s: %v", accessJSON, err)
	}
	fill := strings.NewReplacer("{subscription-id}", a.admin.SubscriptionID, "{resource-group}", a.admin.ResourceGroup).Replace
	name := azuretest.GUID(t)
	scope := fill(as.Scope)
	r, err := a.Roles.Create(context.Background(), scope, name, armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{RoleDefinitionID: to.Ptr(fill(as.RoleDefinitionID)),
			PrincipalID: to.Ptr(as.PrincipalID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil)
	if err != nil {
		t.Fatalf("role assignment at %s: %v", scope, err)
	}
	return *r.ID
}

// Unassign deletes a role assignment by its id.
func (a *Azure) Unassign(t testing.TB, id string) {
	t.Helper()
	if _, err := a.Roles.DeleteByID(context.Background(), id, nil); err != nil {
		t.Fatal(err)
	}
}

// SetEnabled enables or disables a key.
func (a *Azure) SetEnabled(t testing.TB, name string, enabled bool) {
	t.Helper()
	_, err := a.Keys.UpdateKey(context.Background(), name, "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: &enabled}}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// SetExpiry sets when a key expires (the zero time: a day from now, as good as never for a test).
func (a *Azure) SetExpiry(t testing.TB, name string, exp time.Time) {
	t.Helper()
	if exp.IsZero() {
		exp = time.Now().Add(24 * time.Hour)
	}
	_, err := a.Keys.UpdateKey(context.Background(), name, "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Expires: &exp}}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// Rotate makes a new version of a key.
func (a *Azure) Rotate(t testing.TB, name string) {
	t.Helper()
	if _, err := a.Keys.RotateKey(context.Background(), name, nil); err != nil {
		t.Fatal(err)
	}
}

// SoftDelete deletes a key (it stays recoverable); Recover brings it back.
func (a *Azure) SoftDelete(t testing.TB, name string) {
	t.Helper()
	if _, err := a.Keys.DeleteKey(context.Background(), name, nil); err != nil {
		t.Fatal(err)
	}
}

// Recover recovers a soft-deleted key.
func (a *Azure) Recover(t testing.TB, name string) {
	t.Helper()
	if _, err := a.Keys.RecoverDeletedKey(context.Background(), name, nil); err != nil {
		t.Fatal(err)
	}
}
