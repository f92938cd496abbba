package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"slices"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/provider"
	"github.com/cmekd/cmekd/internal/provider/azure"
	"github.com/cmekd/cmekd/internal/provider/gcp"
)

// cloudCredentials are the platform's credentials for the clouds other than AWS when they do not
// come from the environment (dev mode's).
type cloudCredentials struct {
	gcpFile string
	azure   *azure.ClientSecret
}

// cloudProviders are the providers other than AWS that cfg serves, and how to close them.
func cloudProviders(ctx context.Context, cfg config.Config, creds cloudCredentials) ([]provider.Provider, func(), error) {
	var out []provider.Provider
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	roots, err := rootCAs(cfg.TLSCAFile)
	if err != nil {
		return nil, nil, err
	}
	if slices.Contains(cfg.Providers, provider.GCP) {
		p, err := gcpProvider(ctx, cfg, roots, creds.gcpFile)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		out, closers = append(out, p), append(closers, func() { _ = p.Close() })
	}
	if slices.Contains(cfg.Providers, provider.Azure) {
		p, err := azure.New(azure.Config{Endpoint: cfg.AzureEndpoint, RootCAs: roots, Principal: cfg.AzurePrincipal,
			Regions: cfg.AzureRegions, Timeout: cfg.KMSTimeout, ClientSecret: creds.azure})
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("configuration: azure: %w", err)
		}
		out, closers = append(out, p), append(closers, p.Close)
	}
	return out, closeAll, nil
}

// rootCAs are the system's roots plus the CA of CMEKD_TLS_CA_FILE; nil (the system's) without one.
func rootCAs(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(file)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("configuration: CMEKD_TLS_CA_FILE: %s holds no PEM certificate", file)
	}
	return pool, nil
}

// gcpProvider is Google Cloud KMS as cfg configures it, with Application Default Credentials.
func gcpProvider(ctx context.Context, cfg config.Config, roots *x509.CertPool, credentialsFile string) (*gcp.Provider, error) {
	p, err := gcp.New(ctx, gcp.Config{Endpoint: cfg.GCPKMSEndpoint, RootCAs: roots, Principal: cfg.GCPPrincipal, CredentialsFile: credentialsFile,
		Regions: cfg.GCPRegions, Timeout: cfg.KMSTimeout})
	if err != nil {
		return nil, fmt.Errorf("configuration: gcp: %w", err)
	}
	return p, nil
}
