package azure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/cmekd/cmekd/emulator/azure"
	"github.com/cmekd/cmekd/emulator/azure/azuretest"
	"github.com/cmekd/cmekd/emulator/tlsca"
)

// clock is the emulator's stubbable time: real time plus an offset a test moves.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.offset) }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.offset += d; c.mu.Unlock() }

type env struct {
	em     *azure.Emulator
	dir    string
	clock  *clock
	client *http.Client
	ca     *tlsca.CA
}

// setup starts the emulator on 127.0.0.1 over TLS and returns a client whose transport dials
// every host name to it, keeping the name for TLS and routing, as CMEKD_AZURE_ENDPOINT does.
func setup(t *testing.T) *env {
	t.Helper()
	ca, err := tlsca.New()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: t.TempDir(), clock: &clock{}, ca: ca}
	e.em, err = azure.New(azure.Options{Now: e.clock.now, CredentialsDir: e.dir})
	if err != nil {
		t.Fatal(err)
	}
	e.client = e.serve(t, e.em)
	return e
}

func (e *env) serve(t *testing.T, h http.Handler) *http.Client {
	t.Helper()
	addr, stop, err := e.ca.Serve(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	tr := e.ca.Transport(addr)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func (e *env) options() azcore.ClientOptions { return azuretest.Options(e.client) }

// identity adds an identity and reads back the file it wrote, as a user of the binary would.
func (e *env) identity(t *testing.T, name, vault string) azure.Identity {
	t.Helper()
	if _, err := e.em.AddIdentity(name, vault); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var id azure.Identity
	if err := json.Unmarshal(b, &id); err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) credential(t *testing.T, id azure.Identity) azcore.TokenCredential {
	t.Helper()
	return azuretest.Credential(t, id, e.options())
}

func (e *env) keys(t *testing.T, vaultURL string, cred azcore.TokenCredential) *azkeys.Client {
	t.Helper()
	return azuretest.Keys(t, vaultURL, cred, e.options())
}

func (e *env) roles(t *testing.T, id azure.Identity) *armauthorization.RoleAssignmentsClient {
	t.Helper()
	return azuretest.Roles(t, id.SubscriptionID, e.credential(t, id), e.options())
}

const (
	roleCryptoServiceEncryptionUser = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
	roleReader                      = "21090545-7ca7-4776-b22c-e363652d74d2"
)

func assign(t *testing.T, rc *armauthorization.RoleAssignmentsClient, admin azure.Identity, scope, roleGUID, principal string) string {
	t.Helper()
	name := azuretest.GUID(t)
	if _, err := rc.Create(context.Background(), scope, name, azuretest.Assignment(admin.SubscriptionID, roleGUID, principal), nil); err != nil {
		t.Fatalf("assign %s at %s: %v", roleGUID, scope, err)
	}
	return name
}

// wantErr checks that err is an Azure response error of status whose text holds every want.
func wantErr(t *testing.T, err error, status int, want ...string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want HTTP %d error, got %v", status, err)
	}
	if re.StatusCode != status {
		t.Fatalf("want HTTP %d, got %d: %v", status, re.StatusCode, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error lacks %q:\n%v", w, err)
		}
	}
}

func vaultScope(id azure.Identity, vault string) string {
	return "/subscriptions/" + id.SubscriptionID + "/resourceGroups/" + id.ResourceGroup + "/providers/Microsoft.KeyVault/vaults/" + vault
}

// dek is the data key the tests wrap.
var dek = []byte("0123456789abcdef0123456789abcdef")

// wrappedDEK adds the administrator of cmekvault and an RSA key "cmk" in it, and wraps dek with
// the key: it returns the administrator, its keys client, and the kid and the wrapped key.
func (e *env) wrappedDEK(t *testing.T) (admin azure.Identity, kc *azkeys.Client, kid string, wrapped []byte) {
	t.Helper()
	admin = e.identity(t, "admin", "cmekvault")
	kc = e.keys(t, vaultURL, e.credential(t, admin))
	if _, err := kc.CreateKey(context.Background(), "cmk", rsaKey(), nil); err != nil {
		t.Fatal(err)
	}
	kid, wrapped = wrap(t, kc, "cmk", "", dek)
	return admin, kc, kid, wrapped
}

func wrap(t *testing.T, c *azkeys.Client, name, version string, dek []byte) (string, []byte) {
	t.Helper()
	res, err := c.WrapKey(context.Background(), name, version, rsaOAEP256(dek), nil)
	if err != nil {
		t.Fatalf("wrap: %v", err)
	}
	return string(*res.KID), res.Result
}

func unwrap(c *azkeys.Client, kid string, wrapped []byte) ([]byte, error) {
	id := azkeys.ID(kid)
	res, err := c.UnwrapKey(context.Background(), id.Name(), id.Version(), rsaOAEP256(wrapped), nil)
	return res.Result, err
}

func mustUnwrap(t *testing.T, c *azkeys.Client, kid string, wrapped, want []byte) {
	t.Helper()
	got, err := unwrap(c, kid, wrapped)
	if err != nil {
		t.Fatalf("unwrap %s: %v", kid, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("unwrap returned other bytes")
	}
}

func kidVersion(kid string) string {
	id := azkeys.ID(kid)
	return id.Version()
}
