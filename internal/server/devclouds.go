package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	awsemu "github.com/cmekd/cmekd/emulator/aws"
	azemu "github.com/cmekd/cmekd/emulator/azure"
	gcpemu "github.com/cmekd/cmekd/emulator/gcp"
	"github.com/cmekd/cmekd/emulator/tlsca"
	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/provider/azure"
)

// Dev mode's Google Cloud and Azure: a project and a vault whose keys already admit the platform.
const (
	devGCPProject  = "cmekd-dev"
	devGCPLocation = "us-central1"
	devGCPPlatform = "cmekd-platform@cmekd-dev.iam.gserviceaccount.com"
	devGCPKey      = "projects/" + devGCPProject + "/locations/" + devGCPLocation + "/keyRings/dev/cryptoKeys/customer"
	devAzureVault  = "cmekd-dev"
	devAzureKey    = "https://" + devAzureVault + ".vault.azure.net/keys/customer"
)

// devClouds are dev mode's Google Cloud KMS and Azure, served by the embedded emulator over TLS
// from a CA kept beside its keys.
type devClouds struct {
	dir        string // the CA and the identities' credential files
	gcp        *gcpemu.Emulator
	azure      *azemu.Emulator
	gcpAddr    string
	azureAddr  string
	platformAz azemu.Identity
	stops      []func()
}

// newDevClouds makes the two clouds, to be restored from the AWS emulator's state file (their
// states are its companions) before start.
func newDevClouds(dir string, log *slog.Logger, save func()) (*devClouds, map[string]awsemu.Companion, error) {
	d := &devClouds{dir: dir}
	var err error
	if d.gcp, err = gcpemu.New(gcpemu.Options{CredentialsDir: dir, Logger: log.With("component", "gcp-emulator"), OnChange: save}); err != nil {
		return nil, nil, err
	}
	if d.azure, err = azemu.New(azemu.Options{CredentialsDir: dir, Logger: log.With("component", "azure-emulator"), OnChange: save}); err != nil {
		return nil, nil, err
	}
	return d, map[string]awsemu.Companion{"gcp": d.gcp, "azure": d.azure}, nil
}

// start serves both clouds (on saved's addresses when they are free), makes the platform's
// identities and a ready key in each, and points cfg at them.
func (d *devClouds) start(ctx context.Context, cfg *config.Config, saved devSaved) error {
	ca, err := tlsca.Open(d.dir)
	if err != nil {
		return err
	}
	tlsCfg, err := ca.ServerConfig()
	if err != nil {
		return err
	}
	// Each server takes its own copy: an http.Server writes into its TLS configuration.
	if err := d.startGCP(tlsCfg.Clone(), saved.GCPAddr); err != nil {
		return err
	}
	if err := d.startAzure(ctx, tlsCfg.Clone(), ca, saved.AzureAddr); err != nil {
		return err
	}
	cfg.Providers = []string{"aws", "gcp", "azure"}
	cfg.GCPPrincipal, cfg.GCPKMSEndpoint = "serviceAccount:"+devGCPPlatform, d.gcpAddr
	cfg.AzurePrincipal, cfg.AzureEndpoint = d.platformAz.ObjectID, d.azureAddr
	cfg.TLSCAFile = filepath.Join(d.dir, tlsca.CAFile)
	return nil
}

func (d *devClouds) startGCP(tlsCfg *tls.Config, addr string) error {
	if _, err := d.gcp.AddIdentity(devGCPPlatform, ""); err != nil {
		return err
	}
	for _, role := range []string{"roles/cloudkms.cryptoKeyEncrypterDecrypter", "roles/cloudkms.viewer"} {
		if err := d.gcp.GrantProject(devGCPProject, "serviceAccount:"+devGCPPlatform, role); err != nil {
			return err
		}
	}
	if err := d.gcp.CreateKey(devGCPKey); err != nil {
		return err
	}
	ln, err := listenDev(addr)
	if err != nil {
		return err
	}
	d.gcpAddr = ln.Addr().String()
	go func() { _ = d.gcp.Serve(ln, tlsCfg) }()
	d.stops = append(d.stops, func() { _ = d.gcp.Close() })
	return nil
}

func (d *devClouds) startAzure(ctx context.Context, tlsCfg *tls.Config, ca *tlsca.CA, addr string) error {
	var err error
	// The platform administers dev mode's vault: its key admits the platform as a customer's would.
	if d.platformAz, err = d.azure.AddIdentity("cmekd-platform", devAzureVault); err != nil {
		return err
	}
	ln, err := listenDev(addr)
	if err != nil {
		return err
	}
	d.azureAddr = ln.Addr().String()
	srv := &http.Server{Handler: d.azure, TLSConfig: tlsCfg, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	d.stops = append(d.stops, func() { _ = srv.Close() })
	return d.azureKey(ctx, ca)
}

// azureKey makes dev mode's Azure key unless an earlier start did.
func (d *devClouds) azureKey(ctx context.Context, ca *tlsca.CA) error {
	opts := azcore.ClientOptions{Transport: &http.Client{Transport: ca.Transport(d.azureAddr)}, Retry: policy.RetryOptions{MaxRetries: -1}}
	cred, err := azidentity.NewClientSecretCredential(d.platformAz.TenantID, d.platformAz.ClientID, d.platformAz.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		return err
	}
	c, err := azkeys.NewClient("https://"+devAzureVault+".vault.azure.net", cred, &azkeys.ClientOptions{ClientOptions: opts})
	if err != nil {
		return err
	}
	if _, err := c.GetKey(ctx, "customer", "", nil); err == nil {
		return nil
	}
	kty := azkeys.KeyTypeRSA
	_, err = c.CreateKey(ctx, "customer", azkeys.CreateKeyParameters{Kty: &kty, KeySize: to.Ptr[int32](2048)}, nil)
	return err
}

// credentials are the platform's credentials for the two clouds.
func (d *devClouds) credentials() cloudCredentials {
	return cloudCredentials{gcpFile: filepath.Join(d.dir, devGCPPlatform+".json"),
		azure: &azure.ClientSecret{TenantID: d.platformAz.TenantID, ClientID: d.platformAz.ClientID, Secret: d.platformAz.ClientSecret}}
}

func (d *devClouds) stop() {
	for _, s := range d.stops {
		s()
	}
}

// listenDev listens on addr when it is free (the address of the last start), else on a free
// loopback port.
func listenDev(addr string) (net.Listener, error) {
	if addr != "" {
		if ln, err := net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// banner is what dev mode prints of the two clouds.
func (d *devClouds) banner() string {
	return fmt.Sprintf(`
Google Cloud KMS and Azure Key Vault are emulated too (TLS, CA in %s); their keys already admit the platform:
  cmekctl orgs create --name "Acme GCP" --region %s --provider gcp --key-id "$CMEKD_GCP_KEY_ID"
  cmekctl orgs create --name "Acme Azure" --region eastus --provider azure --key-id "$CMEKD_AZURE_KEY_ID"
`, filepath.Join(d.dir, tlsca.CAFile), devGCPLocation)
}

// exports are the export lines of the two clouds.
func (d *devClouds) exports() string {
	return fmt.Sprintf("  export CMEKD_GCP_KEY_ID=%s CMEKD_AZURE_KEY_ID=%s\n  export CMEKD_DEV_GCP=%s CMEKD_DEV_AZURE=%s\n",
		devGCPKey, devAzureKey, d.gcpAddr, d.azureAddr)
}
