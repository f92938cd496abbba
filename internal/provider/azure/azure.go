// Package azure is the Azure Key Vault and Managed HSM provider: versionless key URLs as key ids,
// the ordered checks of a key (get, state, type, operations, wrapKey, unwrapKey), envelope
// encryption of data keys by wrapKey under the customer's key, and the one role assignment the
// customer gives the platform's service principal. Azure is reached only through the official SDK
// (azkeys, azidentity) over a transport that may dial every Azure host to one address.
package azure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/cmekd/cmekd/internal/provider"
)

// Config configures the provider.
type Config struct {
	// Endpoint is CMEKD_AZURE_ENDPOINT: a host:port to which every Azure host (vaults, Entra ID,
	// Resource Manager) is dialled, keeping the host's name for TLS and routing. "" dials by DNS.
	Endpoint string
	// RootCAs are the CAs Azure endpoints may present (CMEKD_TLS_CA_FILE added); nil is the system's.
	RootCAs *x509.CertPool
	// Credential is the platform's identity; nil means azidentity's environment credential
	// (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET) over the same transport.
	Credential azcore.TokenCredential
	// ClientSecret, when Credential is nil, is a service principal's secret used over the provider's
	// own transport (dev mode's); nil means the environment credential.
	ClientSecret *ClientSecret
	// Principal is CMEKD_AZURE_PRINCIPAL: the object id of the platform's service principal, to which
	// customers assign the role.
	Principal string
	// Regions are CMEKD_AZURE_REGIONS, the Azure regions whose organisations this deployment serves.
	Regions []string
	// Timeout bounds each call to Azure; 0 means 10 s.
	Timeout time.Duration
	// Backoff are the waits before each retry of a transient failure during verification; nil
	// means 200 ms, 1 s.
	Backoff []time.Duration
	// Now is the clock the validity window of keys is judged by; nil is time.Now.
	Now func() time.Time
}

// Provider is Azure Key Vault and Managed HSM.
type Provider struct {
	cred      azcore.TokenCredential
	http      *http.Client
	principal string
	regions   []string
	timeout   time.Duration
	backoff   []time.Duration
	now       func() time.Time

	mu      sync.Mutex
	clients map[string]*azkeys.Client // by vault URL
	// algs remembers the wrap algorithm of Managed HSM keys by key id, so that a wrap needs no get.
	algs sync.Map
}

var _ provider.Provider = (*Provider)(nil)

// ClientSecret is a service principal's client credentials.
type ClientSecret struct {
	TenantID, ClientID, Secret string
}

// New returns the provider, or an error naming the setting that is missing or wrong.
func New(cfg Config) (*Provider, error) {
	if strings.TrimSpace(cfg.Principal) == "" {
		return nil, errors.New("azure: CMEKD_AZURE_PRINCIPAL (the platform's service principal object id) is required")
	}
	if len(cfg.Regions) == 0 {
		return nil, errors.New("azure: CMEKD_AZURE_REGIONS names no region")
	}
	if cfg.Endpoint != "" {
		if _, _, err := net.SplitHostPort(cfg.Endpoint); err != nil {
			return nil, fmt.Errorf("azure: CMEKD_AZURE_ENDPOINT %q is not host:port: %w", cfg.Endpoint, err)
		}
	}
	p := &Provider{http: httpClient(cfg.Endpoint, cfg.RootCAs), cred: cfg.Credential, principal: cfg.Principal,
		timeout: cfg.Timeout, backoff: cfg.Backoff, now: cfg.Now, clients: map[string]*azkeys.Client{}}
	for _, r := range cfg.Regions {
		p.regions = append(p.regions, strings.ToLower(strings.TrimSpace(r)))
	}
	if p.timeout <= 0 {
		p.timeout = 10 * time.Second
	}
	if p.backoff == nil {
		p.backoff = []time.Duration{200 * time.Millisecond, time.Second}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.cred == nil && cfg.ClientSecret != nil {
		cs := cfg.ClientSecret
		cred, err := azidentity.NewClientSecretCredential(cs.TenantID, cs.ClientID, cs.Secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: p.options()})
		if err != nil {
			return nil, fmt.Errorf("azure: client secret credential: %w", err)
		}
		p.cred = cred
	}
	if p.cred == nil {
		cred, err := azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{ClientOptions: p.options()})
		if err != nil {
			return nil, fmt.Errorf("azure: credentials from AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET: %w", err)
		}
		p.cred = cred
	}
	return p, nil
}

// httpClient dials every host to endpoint (when set) and trusts roots (when set), so that the SDK
// keeps each host's name for SNI, certificate checks and routing.
func httpClient(endpoint string, roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if endpoint != "" {
		dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		tr.Proxy = nil
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, endpoint)
		}
	}
	return &http.Client{Transport: tr}
}

// options are the SDK options of every client: the transport, and few quick retries of the SDK's
// own (throttling, 5xx), since verification retries with its own backoff and callers bound time.
func (p *Provider) options() azcore.ClientOptions {
	return azcore.ClientOptions{Transport: p.http,
		Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}}
}

// Close releases idle connections.
func (p *Provider) Close() { p.http.CloseIdleConnections() }

// Name is provider.Azure.
func (p *Provider) Name() string { return provider.Azure }

// Regions are CMEKD_AZURE_REGIONS.
func (p *Provider) Regions() []string { return p.regions }

// client is the cached client of a vault or HSM: each one keeps the token its challenge asked for.
func (p *Provider) client(k keyRef) (*azkeys.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	url := k.vaultURL()
	if c, ok := p.clients[url]; ok {
		return c, nil
	}
	c, err := azkeys.NewClient(url, p.cred, &azkeys.ClientOptions{ClientOptions: p.options()})
	if err != nil {
		return nil, err
	}
	p.clients[url] = c
	return c, nil
}

// call bounds one call to Azure by the timeout.
func (p *Provider) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.timeout)
}
