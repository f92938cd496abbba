// Package gcp is the Google Cloud KMS provider: CryptoKey resource names as key ids, the ordered
// checks of a key (GetCryptoKey, its primary version's state, its purpose, Encrypt and Decrypt),
// envelope encryption through Cloud KMS Encrypt with the encryption context as authenticated data
// and CRC32C integrity checks both ways, and the two IAM bindings the customer grants the
// platform's service account. It talks to Cloud KMS through the official client
// (cloud.google.com/go/kms/apiv1) over gRPC.
package gcp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	kmsapi "cloud.google.com/go/kms/apiv1"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/provider"
)

// Config configures the provider.
type Config struct {
	// Endpoint is the Cloud KMS host:port (CMEKD_GCP_KMS_ENDPOINT); "" is Google's.
	Endpoint string
	// CredentialsFile is a service-account key file; "" uses Application Default Credentials
	// (GOOGLE_APPLICATION_CREDENTIALS, then the metadata server).
	CredentialsFile string
	// RootCAs are the CAs the endpoint's certificate may chain to (CMEKD_TLS_CA_FILE added to the
	// system's); nil is the system's.
	RootCAs *x509.CertPool
	// Principal is the platform's service account, "serviceAccount:EMAIL" (CMEKD_GCP_PRINCIPAL); a
	// bare EMAIL is taken as that.
	Principal string
	// Regions are the locations whose keys the deployment serves (CMEKD_GCP_REGIONS); empty serves
	// every location.
	Regions []string
	// Timeout bounds each call to Cloud KMS; 0 is 10 s.
	Timeout time.Duration
	// Backoff are the waits before each retry of a transient failure; nil is 200 ms, 1 s.
	Backoff []time.Duration
}

// Provider is Google Cloud KMS.
type Provider struct {
	client    *kmsapi.KeyManagementClient
	principal string
	regions   []string
	timeout   time.Duration
	backoff   []time.Duration
}

var _ provider.Provider = (*Provider)(nil)

// New validates cfg and dials Cloud KMS with one client that every call shares.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	principal, err := principalOf(cfg.Principal)
	if err != nil {
		return nil, err
	}
	opts := []option.ClientOption{}
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
	}
	if cfg.CredentialsFile != "" {
		opts = append(opts, option.WithAuthCredentialsFile(option.ServiceAccount, cfg.CredentialsFile))
	}
	if cfg.RootCAs != nil {
		tlsCfg := &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
		opts = append(opts, option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg))))
	}
	client, err := kmsapi.NewKeyManagementClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcp: Cloud KMS client: %w", err)
	}
	p := &Provider{client: client, principal: principal, regions: cfg.Regions, timeout: cfg.Timeout, backoff: cfg.Backoff}
	if p.timeout <= 0 {
		p.timeout = 10 * time.Second
	}
	if p.backoff == nil {
		p.backoff = []time.Duration{200 * time.Millisecond, time.Second}
	}
	return p, nil
}

// principalOf is the IAM member of the platform's service account.
func principalOf(s string) (string, error) {
	email := strings.TrimPrefix(s, "serviceAccount:")
	at := strings.IndexByte(email, '@')
	if at <= 0 || at == len(email)-1 || strings.ContainsAny(email, ": \t\n") {
		return "", errors.New("gcp: the platform's principal (CMEKD_GCP_PRINCIPAL) must be serviceAccount:EMAIL, not " + fmt.Sprintf("%q", s))
	}
	return "serviceAccount:" + email, nil
}

// Close closes the client's connections.
func (p *Provider) Close() error { return p.client.Close() }

// Name is provider.GCP.
func (p *Provider) Name() string { return provider.GCP }

// Regions are CMEKD_GCP_REGIONS.
func (p *Provider) Regions() []string { return p.regions }

// noRetry turns off the client's own retries: call retries, so that one backoff governs and a
// call's Timeout bounds one attempt.
var noRetry = gax.WithRetry(func() gax.Retryer { return nil })

// call runs one Cloud KMS call needing permission, each attempt bounded by the timeout, retrying
// transient failures with backoff; every failure is a classified *kms.Error.
func call[T any](ctx context.Context, p *Provider, permission string, fn func(context.Context) (T, error)) (T, error) {
	attempt := func() (T, error) {
		actx, cancel := context.WithTimeout(ctx, p.timeout)
		defer cancel()
		out, err := fn(actx)
		if err != nil {
			return out, classify(permission, err)
		}
		return out, nil
	}
	out, err := attempt()
	for _, wait := range p.backoff {
		var ke *kms.Error
		if err == nil || !errors.As(err, &ke) || !ke.Transient() {
			break
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(wait):
		}
		out, err = attempt()
	}
	return out, err
}
