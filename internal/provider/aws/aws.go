// Package aws is the AWS KMS provider: key ARNs judged by the deployment's ARN rules, the
// verification of the verify package (DescribeKey, grants, GenerateDataKey, Decrypt, ReEncrypt,
// Encrypt), envelope encryption through KMS with the encryption context, and the key-policy
// statement the customer adds.
package aws

import (
	"context"
	"errors"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/provider"
	"github.com/cmekd/cmekd/internal/verify"
)

// Provider is AWS KMS.
type Provider struct {
	data     *kms.Client
	verifier *verify.Verifier
	rules    keyarn.Rules
	// platform and dataPrincipal are named in the statement the customer adds.
	platform, dataPrincipal string
}

var _ provider.Provider = (*Provider)(nil)

// Config configures the provider.
type Config struct {
	// Data is the client the data path wraps and unwraps through (the data identity's in grant mode).
	Data     *kms.Client
	Verifier *verify.Verifier
	Rules    keyarn.Rules
	// PlatformPrincipal and DataPrincipal are CMEKD_PLATFORM_PRINCIPAL and CMEKD_DATA_PRINCIPAL.
	PlatformPrincipal, DataPrincipal string
}

// New returns the provider.
func New(cfg Config) *Provider {
	return &Provider{data: cfg.Data, verifier: cfg.Verifier, rules: cfg.Rules, platform: cfg.PlatformPrincipal, dataPrincipal: cfg.DataPrincipal}
}

// Name is provider.AWS.
func (p *Provider) Name() string { return provider.AWS }

// Regions are CMEKD_REGIONS.
func (p *Provider) Regions() []string { return p.rules.Regions }

// Identify checks a key ARN against the ARN rules.
func (p *Provider) Identify(keyID, region string) (string, error) {
	arn, err := p.rules.Check(keyID, region)
	if err != nil {
		return "", ARNError(err)
	}
	return arn.String(), nil
}

// ARNError turns a key ARN rule violation into its 422.
func ARNError(err error) error {
	var e *keyarn.Error
	if errors.As(err, &e) {
		return domain.Errorf(domain.KindInvalid, e.Code, "%s", e.Message)
	}
	return err
}

// Verify runs the verify package's checks.
func (p *Provider) Verify(ctx context.Context, req verify.Request) verify.Report {
	return p.verifier.Run(ctx, req)
}

// Access is the key-policy statement (JSON or Terraform) of the key's policy the customer adds.
func (p *Provider) Access(keyID, format string) ([]byte, error) {
	arn, err := p.rules.Check(keyID, "")
	if err != nil {
		return nil, ARNError(err)
	}
	req := keypolicy.Request{KeyARN: arn, PlatformPrincipal: p.platform, Template: keypolicy.TemplateStatement, DataPrincipal: p.dataPrincipal}
	if format == "terraform" {
		hcl, err := keypolicy.Terraform(req)
		return []byte(hcl), ARNError(err)
	}
	doc, err := keypolicy.Generate(req)
	if err != nil {
		return nil, ARNError(err)
	}
	return keypolicy.JSON(doc)
}

// Statement is the use statement of the key policy (in grant mode, the first of the two).
func (p *Provider) Statement(string) any {
	if p.dataPrincipal != "" {
		return keypolicy.GrantModeStatements(p.platform, p.dataPrincipal)[0]
	}
	return keypolicy.UseStatement(p.platform, nil)
}

// GenerateDataKey is KMS GenerateDataKey.
func (p *Provider) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string) ([]byte, []byte, error) {
	return p.data.GenerateDataKey(ctx, keyID, encCtx)
}

// Decrypt is KMS Decrypt.
func (p *Provider) Decrypt(ctx context.Context, keyID string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	return p.data.Decrypt(ctx, keyID, wrapped, encCtx)
}

// Encrypt is KMS Encrypt.
func (p *Provider) Encrypt(ctx context.Context, keyID string, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	return p.data.Encrypt(ctx, keyID, plaintext, encCtx)
}

// ReEncrypt is KMS ReEncrypt.
func (p *Provider) ReEncrypt(ctx context.Context, fromID string, wrapped []byte, fromCtx map[string]string, toID string, toCtx map[string]string) ([]byte, error) {
	return p.data.ReEncrypt(ctx, fromID, wrapped, fromCtx, toID, toCtx)
}
