package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/cmekd/cmekd/emulator/tlsca"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// startClouds runs the binary's run with every cloud until the returned stop is called.
func startClouds(t *testing.T, args ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, io.Discard) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
}

// waitTLS waits until addr answers TLS.
func waitTLS(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}); err == nil { //nolint:gosec // only waiting for the port
			c.Close()
			return
		}
	}
	t.Fatalf("nothing answers TLS on %s", addr)
}

func gcpClient(t *testing.T, addr, keyFile string, ca *tlsca.CA) *kms.KeyManagementClient {
	t.Helper()
	c, err := kms.NewKeyManagementClient(t.Context(), option.WithEndpoint(addr),
		option.WithAuthCredentialsFile(option.ServiceAccount, keyFile),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(ca.ClientConfig()))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func azureKeys(t *testing.T, addr, idFile, vault string, ca *tlsca.CA) *azkeys.Client {
	t.Helper()
	var id struct{ TenantID, ClientID, ClientSecret string }
	b, err := os.ReadFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	id.TenantID, id.ClientID, id.ClientSecret = raw["tenant_id"], raw["client_id"], raw["client_secret"]
	dialer := &net.Dialer{}
	tr := &http.Transport{TLSClientConfig: ca.ClientConfig(), ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		}}
	opts := azcore.ClientOptions{Transport: &http.Client{Transport: tr}}
	cred, err := azidentity.NewClientSecretCredential(id.TenantID, id.ClientID, id.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	c, err := azkeys.NewClient("https://"+vault+".vault.azure.net", cred, &azkeys.ClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRun_ServesEveryCloudAndKeepsThemInOneStateFile: with -gcp-addr and -azure-addr the binary
// serves Google Cloud KMS and Azure over TLS from the CA in -tls-dir, writes the identities' files,
// and one -state file keeps all three clouds across a restart, credentials included.
func TestRun_ServesEveryCloudAndKeepsThemInOneStateFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	gcpAddr, azureAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	args := []string{"-addr", testkit.FreeAddr(t), "-state", state, "-tls-dir", dir, "-gcp-addr", gcpAddr, "-azure-addr", azureAddr,
		"-gcp-identity", "admin@acme.iam.gserviceaccount.com:acme", "-azure-identity", "owner:acme-vault"}
	stop := startClouds(t, args...)
	waitTLS(t, gcpAddr)
	waitTLS(t, azureAddr)
	ca, err := tlsca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "admin@acme.iam.gserviceaccount.com.json")
	ring := "projects/acme/locations/us-central1/keyRings/ring"
	g := gcpClient(t, gcpAddr, keyFile, ca)
	if _, err := g.CreateKeyRing(t.Context(), &kmspb.CreateKeyRingRequest{Parent: "projects/acme/locations/us-central1", KeyRingId: "ring"}); err != nil {
		t.Fatalf("CreateKeyRing as the project's admin: %v", err)
	}
	az := azureKeys(t, azureAddr, filepath.Join(dir, "owner.json"), "acme-vault", ca)
	kty := azkeys.KeyTypeRSA
	if _, err := az.CreateKey(t.Context(), "k1", azkeys.CreateKeyParameters{Kty: &kty, KeySize: to.Ptr[int32](2048)}, nil); err != nil {
		t.Fatalf("CreateKey as the vault's administrator: %v", err)
	}

	stop()

	stop = startClouds(t, args...)
	defer stop()
	waitTLS(t, gcpAddr)
	waitTLS(t, azureAddr)
	if _, err := gcpClient(t, gcpAddr, keyFile, ca).GetKeyRing(t.Context(), &kmspb.GetKeyRingRequest{Name: ring}); err != nil {
		t.Errorf("the key ring after a restart: %v", err)
	}
	if _, err := azureKeys(t, azureAddr, filepath.Join(dir, "owner.json"), "acme-vault", ca).GetKey(t.Context(), "k1", "", nil); err != nil {
		t.Errorf("the Azure key after a restart: %v", err)
	}
}

// TestRun_CloudFlagsNeedEachOther: TLS endpoints need -tls-dir, identities their cloud.
func TestRun_CloudFlagsNeedEachOther(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-gcp-addr", "127.0.0.1:0"},
		{"-azure-addr", "127.0.0.1:0"},
		{"-tls-dir", t.TempDir(), "-gcp-identity", "a@b.iam.gserviceaccount.com"},
		{"-tls-dir", t.TempDir(), "-azure-identity", "owner"},
	} {
		if err := run(t.Context(), args, io.Discard); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}
