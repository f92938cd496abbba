package azure_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	azemu "github.com/cmekd/cmekd/emulator/azure"
	"github.com/cmekd/cmekd/emulator/azure/azuretest"
	"github.com/cmekd/cmekd/emulator/tlsca"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/provider/azure"
	"github.com/cmekd/cmekd/internal/verify"
)

// emu is the one emulator the package's tests share; each test makes its own identities, vault and
// keys in it, so that they run in parallel.
var emu struct {
	em   *azemu.Emulator
	ca   *tlsca.CA
	addr string // where it listens, as CMEKD_AZURE_ENDPOINT
	opts azcore.ClientOptions
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "azure-provider-test")
	if err != nil {
		panic(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if emu.ca, err = tlsca.New(); err != nil {
		panic(err)
	}
	if emu.em, err = azemu.New(azemu.Options{CredentialsDir: dir}); err != nil {
		panic(err)
	}
	addr, stop := serve(emu.em)
	defer stop()
	emu.addr = addr
	tr := emu.ca.Transport(addr)
	defer tr.CloseIdleConnections()
	emu.opts = azuretest.Options(&http.Client{Transport: tr, Timeout: 30 * time.Second})
	return m.Run()
}

// serve serves h over TLS with the emulator's CA on a random port of 127.0.0.1.
func serve(h http.Handler) (addr string, stop func()) {
	addr, stop, err := emu.ca.Serve(h)
	if err != nil {
		panic(err)
	}
	return addr, stop
}

// fixture is one test's customer (an admin with a vault) and the platform's principal.
type fixture struct {
	t     testing.TB
	admin azemu.Identity
	// adminName is the admin's identity name in the emulator; adminCred its credential.
	adminName string
	adminCred azcore.TokenCredential
	vault     string
	keys      *azkeys.Client
	roles     *armauthorization.RoleAssignmentsClient
	platform  azemu.Identity
	p         *azure.Provider
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	u := azuretest.Hex(t)
	f := &fixture{t: t, vault: "kv" + u[:12]}
	f.adminName = "admin-" + u
	f.admin = addIdentity(t, f.adminName, f.vault)
	f.platform = addIdentity(t, "platform-"+u, "")
	f.adminCred = azuretest.Credential(t, f.admin, emu.opts)
	f.keys = azuretest.Keys(t, f.vaultURL(), f.adminCred, emu.opts)
	f.roles = azuretest.Roles(t, f.admin.SubscriptionID, f.adminCred, emu.opts)
	f.p = newProvider(t, emu.addr, azuretest.Credential(t, f.platform, emu.opts), f.platform.ObjectID)
	return f
}

func newProvider(t testing.TB, endpoint string, cred azcore.TokenCredential, principal string) *azure.Provider {
	t.Helper()
	p, err := azure.New(azure.Config{Endpoint: endpoint, RootCAs: emu.ca.Pool(), Credential: cred, Principal: principal,
		Regions: []string{"eastus", "westeurope"}, Timeout: 10 * time.Second, Backoff: []time.Duration{10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func addIdentity(t testing.TB, name, vault string) azemu.Identity {
	t.Helper()
	id, err := emu.em.AddIdentity(name, vault)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) vaultURL() string { return "https://" + f.vault + ".vault.azure.net" }

// rsaKey creates an RSA key and returns its versionless id.
func (f *fixture) rsaKey(name string) string {
	return f.createKey(name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)})
}

func (f *fixture) createKey(name string, params azkeys.CreateKeyParameters) string {
	f.t.Helper()
	if _, err := f.keys.CreateKey(context.Background(), name, params, nil); err != nil {
		f.t.Fatalf("create key %s: %v", name, err)
	}
	return f.vaultURL() + "/keys/" + name
}

func (f *fixture) update(name string, attrs azkeys.KeyAttributes, ops ...azkeys.KeyOperation) {
	f.t.Helper()
	params := azkeys.UpdateKeyParameters{KeyAttributes: &attrs}
	for _, op := range ops {
		params.KeyOps = append(params.KeyOps, to.Ptr(op))
	}
	if _, err := f.keys.UpdateKey(context.Background(), name, "", params, nil); err != nil {
		f.t.Fatalf("update key %s: %v", name, err)
	}
}

// scope is the Resource Manager id of a key of the fixture's vault.
func (f *fixture) scope(key string) string {
	return "/subscriptions/" + f.admin.SubscriptionID + "/resourceGroups/" + f.admin.ResourceGroup +
		"/providers/Microsoft.KeyVault/vaults/" + f.vault + "/keys/" + key
}

// assign gives the platform roleID at scope and returns the assignment's name.
func (f *fixture) assign(scope, roleID string) string {
	f.t.Helper()
	return f.assignProps(scope, *azuretest.Assignment(f.admin.SubscriptionID, roleID, f.platform.ObjectID).Properties)
}

func (f *fixture) assignProps(scope string, props armauthorization.RoleAssignmentProperties) string {
	f.t.Helper()
	name := azuretest.GUID(f.t)
	_, err := f.roles.Create(context.Background(), scope, name, armauthorization.RoleAssignmentCreateParameters{Properties: &props}, nil)
	if err != nil {
		f.t.Fatalf("assign at %s: %v", scope, err)
	}
	return name
}

func (f *fixture) unassign(scope, name string) {
	f.t.Helper()
	if _, err := f.roles.Delete(context.Background(), scope, name, nil); err != nil {
		f.t.Fatalf("delete assignment: %v", err)
	}
}

// usableKey is an RSA key the platform holds the one role on.
func (f *fixture) usableKey(name string) string {
	id := f.rsaKey(name)
	f.assign(f.scope(name), azure.RoleCryptoServiceEncryptionUserID)
	return id
}

func (f *fixture) verify(keyID string) verify.Report {
	return f.p.Verify(context.Background(), verify.Request{Key: keyID, Region: "eastus", OrgID: "onboarding", Steps: verify.Full})
}

var checkOrder = []string{azure.CheckKeyID, azure.CheckGetKey, azure.CheckKeyState, azure.CheckKeyType, azure.CheckKeyOps, azure.CheckWrapKey, azure.CheckUnwrapKey}

// wantOK checks that every check ran, in order, and passed.
func wantOK(t testing.TB, r verify.Report) {
	t.Helper()
	if !r.OK() || len(r.Checks) != len(checkOrder) {
		t.Fatalf("want every check to pass, got %s", describe(r))
	}
}

// wantFailure checks that the checks before name passed, name failed with code, and the rest were
// skipped; it returns the failed check.
func wantFailure(t testing.TB, r verify.Report, name, code string) domain.Check {
	t.Helper()
	var failed domain.Check
	for i, c := range r.Checks {
		if i >= len(checkOrder) || c.Name != checkOrder[i] {
			t.Fatalf("checks out of order: %s", describe(r))
		}
		switch at := slices.Index(checkOrder, name); {
		case i < at && !c.OK, i > at && c.Code != domain.CodeSkipped:
			t.Fatalf("want only %s to fail (%s), got %s", name, code, describe(r))
		case i == at && c.Code != code:
			t.Fatalf("want %s to fail with %s, got %s", name, code, describe(r))
		case i == at:
			failed = c
		}
	}
	if len(r.Checks) != len(checkOrder) {
		t.Fatalf("want %d checks, got %s", len(checkOrder), describe(r))
	}
	return failed
}

func describe(r verify.Report) string {
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "\n  %s ok=%v code=%s action=%s: %s", c.Name, c.OK, c.Code, c.Action, c.Message)
	}
	return b.String()
}

// wantIn checks that s holds every want.
func wantIn(t testing.TB, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Fatalf("%q lacks %q", s, w)
		}
	}
}
