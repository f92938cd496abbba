package orgs

import (
	"context"
	"github.com/cmekd/cmekd/internal/access"
	"slices"
	"strings"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/grants"
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
	// PolicyStatements, in grant mode only, are every statement to add: the use statement and the
	// data grants statement (SPEC §12).
	PolicyStatements []keypolicy.Statement
}

// CheckKey runs §3 and §4 against a key and stores nothing; a failed check is still an answer.
//
// A key check makes the platform call KMS on someone's key, so it must not be a confused deputy
// (SPEC §16): an organisation's token may check only keys in the AWS accounts its organisation has
// linked, and every check waits its turn under the platform's bound on key-check KMS calls.
func (s *Service) CheckKey(ctx context.Context, p domain.Principal, keyARN *string, region string) (KeyCheck, error) {
	if keyARN == nil {
		return KeyCheck{}, domain.Invalid("key_arn", "key_arn is required")
	}
	if region != "" {
		if err := s.CheckRegion(region); err != nil {
			return KeyCheck{}, err
		}
	}
	if err := s.mayCheck(ctx, p, *keyARN); err != nil {
		return KeyCheck{}, err
	}
	if err := s.awaitKeyCheck(ctx); err != nil {
		return KeyCheck{}, err
	}
	req := verify.Request{Key: *keyARN, Region: region, OrgID: verify.OnboardingContext, Steps: verify.Full}
	if s.cfg.Verifier.GrantMode() {
		// The check proves the grant can be made and used, then retires it: it stores nothing.
		req.Grant, req.Ephemeral = grants.CheckName(), true
	}
	report := s.cfg.Verifier.Run(ctx, req)
	kc := KeyCheck{KeyARN: report.KeyARN, OK: report.OK(), Checks: report.Checks,
		PolicyStatement: keypolicy.UseStatement(s.cfg.PlatformPrincipal, nil)}
	if s.cfg.DataPrincipal != "" {
		kc.PolicyStatements = keypolicy.GrantModeStatements(s.cfg.PlatformPrincipal, s.cfg.DataPrincipal)
		kc.PolicyStatement = kc.PolicyStatements[0]
	}
	return kc, nil
}

// mayCheck refuses an organisation token a check of a key outside its organisation's linked
// accounts. A name that is no key ARN at all makes no KMS call, so its check is anyone's.
func (s *Service) mayCheck(ctx context.Context, p domain.Principal, keyARN string) error {
	if p.Role == domain.RoleAdmin {
		return nil
	}
	arn, err := keyarn.Parse(keyARN)
	if err != nil {
		return nil
	}
	accounts, err := s.cfg.Store.LinkedAccounts(ctx, p.OrgID)
	if err != nil {
		return err
	}
	if slices.Contains(accounts, arn.Account) {
		return nil
	}
	e := domain.Errorf(domain.KindForbidden, domain.CodeKeyCheckNotAllowed,
		"an organisation's token may check only keys of the AWS accounts its organisation has linked; ask the platform operator to check this key")
	e.Details = map[string]any{"accounts": accounts}
	return e
}

// maxKeyCheckWait is the longest a key check queues under the platform's bound before it is refused.
const maxKeyCheckWait = 2 * time.Second

// awaitKeyCheck takes the check's turn under the platform-wide bound on key-check KMS calls: it waits
// a short while, or answers rate_limited when the queue is longer than that.
func (s *Service) awaitKeyCheck(ctx context.Context) error {
	if s.checks == nil {
		return nil
	}
	r := s.checks.Reserve()
	wait := r.Delay()
	if wait > maxKeyCheckWait {
		r.Cancel()
		return access.RateLimited(wait)
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			r.Cancel()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
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
		AdditionalPrincipals: in.AdditionalPrincipals, Template: tmpl, DataPrincipal: s.cfg.DataPrincipal}
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
