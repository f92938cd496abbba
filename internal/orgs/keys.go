package orgs

import (
	"context"
	"strings"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
	"github.com/cmekd/cmekd/internal/verify"
)

// KeyCheck is the answer of a key check (SPEC §5 key-checks): every check, and the statement to add.
type KeyCheck struct {
	KeyARN          string
	OK              bool
	Checks          []domain.Check
	PolicyStatement keypolicy.Statement
}

// CheckKey runs §3 and §4 against a key and stores nothing; a failed check is still an answer.
func (s *Service) CheckKey(ctx context.Context, keyARN *string, region string) (KeyCheck, error) {
	if keyARN == nil {
		return KeyCheck{}, domain.Invalid("key_arn", "key_arn is required")
	}
	if region != "" {
		if err := s.CheckRegion(region); err != nil {
			return KeyCheck{}, err
		}
	}
	report := s.cfg.Verifier.Verify(ctx, *keyARN, region, verify.OnboardingContext, verify.Full)
	return KeyCheck{KeyARN: report.KeyARN, OK: report.OK(), Checks: report.Checks,
		PolicyStatement: keypolicy.UseStatement(s.cfg.PlatformPrincipal, nil)}, nil
}

// PolicyInput is what GET /v1/key-policy asks for.
type PolicyInput struct {
	KeyARN, Template, Format string
	AdditionalPrincipals     []string
}

// Policy is a generated key policy: JSON, or Terraform HCL when Terraform is set.
type Policy struct {
	Terraform bool
	Body      []byte
}

// KeyPolicy generates the key policy the customer must add (§6), as JSON or Terraform.
func (s *Service) KeyPolicy(in PolicyInput) (Policy, error) {
	arn, err := s.cfg.Rules.Check(in.KeyARN, "")
	if err != nil {
		if strings.TrimSpace(in.KeyARN) == "" {
			err = &keyarn.Error{Code: domain.CodeKeyARNRequired, Message: "key_arn is required: give the full key ARN, arn:aws:kms:<region>:<account>:key/<key-id>"}
		}
		return Policy{}, arnError(err)
	}
	tmpl := keypolicy.Template(in.Template)
	if tmpl != "" && tmpl != keypolicy.TemplateStatement && tmpl != keypolicy.TemplateFull {
		return Policy{}, domain.Invalid("template", "template must be statement or full")
	}
	if in.Format != "" && in.Format != "json" && in.Format != "terraform" {
		return Policy{}, domain.Invalid("format", "format must be json or terraform")
	}
	req := keypolicy.Request{KeyARN: arn, PlatformPrincipal: s.cfg.PlatformPrincipal,
		AdditionalPrincipals: in.AdditionalPrincipals, Template: tmpl}
	if in.Format == "terraform" {
		hcl, err := keypolicy.Terraform(req)
		if err != nil {
			return Policy{}, arnError(err)
		}
		return Policy{Terraform: true, Body: []byte(hcl)}, nil
	}
	doc, err := keypolicy.Generate(req)
	if err != nil {
		return Policy{}, arnError(err)
	}
	b, err := keypolicy.JSON(doc)
	return Policy{Body: b}, err
}

// verifyNewKey proves the platform can use the key of a new customer-managed organisation. A failure
// the customer can fix is 422 key_verification_failed; KMS being unreachable is 503 kms_unreachable.
func (s *Service) verifyNewKey(ctx context.Context, o domain.Org) error {
	report := s.cfg.Verifier.Verify(ctx, o.KeyARN, o.Region, o.ID, verify.Full)
	if report.OK() {
		return nil
	}
	details := map[string]any{"checks": report.Checks}
	if report.Transient() {
		e := domain.Errorf(domain.KindUnavailable, domain.CodeKMSUnreachable,
			"KMS could not be reached to verify the key; nothing was stored, retry shortly")
		e.Details, e.RetryAfter = details, 5
		return e
	}
	msg := "the key could not be verified; nothing was stored. Fix what the failed checks say and retry"
	if c, ok := report.FirstFailure(); ok && c.Message != "" {
		msg = "the key could not be verified (" + c.Name + "): " + c.Message
	}
	e := domain.Errorf(domain.KindInvalid, domain.CodeKeyVerificationFailed, "%s", msg)
	e.Details = details
	return e
}
