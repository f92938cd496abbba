package orgs

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/cmekd/cmekd/internal/access"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/grants"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
	"github.com/cmekd/cmekd/internal/provider"
	"github.com/cmekd/cmekd/internal/verify"
)

// KeyCheck is the answer of a key check: every check, and the access to grant.
type KeyCheck struct {
	Provider string
	KeyARN   string
	OK       bool
	Checks   []domain.Check
	// PolicyStatement is what the customer grants the platform: for AWS the key-policy statement, for
	// the others the IAM bindings or the role assignment.
	PolicyStatement any
	// PolicyStatements, in grant mode only, are every statement to add: the use statement and the
	// data grants statement.
	PolicyStatements []keypolicy.Statement
}

// KeyCheckInput is what POST /v1/key-checks asks for: a key of a provider ("" is AWS), named by
// KeyID or, for AWS only, KeyARN; Region is where it would be linked ("" for any).
type KeyCheckInput struct {
	Provider      string
	KeyARN, KeyID *string
	Region        string
}

// CheckKey runs the identifier rules and the verification of a key's provider and stores nothing;
// a failed check is still an answer.
//
// A key check makes the platform call a cloud on someone's key, so it must not be a confused
// deputy: an organisation's token may check only keys of the AWS accounts, Google Cloud projects or
// Azure vaults its organisation has linked, and every check waits its turn under the platform's
// bound on key-check calls.
func (s *Service) CheckKey(ctx context.Context, p domain.Principal, in KeyCheckInput) (KeyCheck, error) {
	if in.KeyARN == nil && in.KeyID == nil {
		return KeyCheck{}, domain.Invalid("key_id", "key_id (for AWS, or its synonym key_arn) is required")
	}
	ref := KeyRef{Provider: in.Provider}
	if in.KeyARN != nil {
		ref.KeyARN = *in.KeyARN
	}
	if in.KeyID != nil {
		ref.KeyID = *in.KeyID
	}
	prov, key, err := s.resolve(ref, "key_id")
	if err != nil {
		return KeyCheck{}, err
	}
	if in.Region != "" {
		if err := s.CheckRegion(in.Region, prov.Name()); err != nil {
			return KeyCheck{}, err
		}
	}
	if err := s.mayCheck(ctx, p, key); err != nil {
		return KeyCheck{}, err
	}
	if err := s.awaitKeyCheck(ctx); err != nil {
		return KeyCheck{}, err
	}
	req := verify.Request{Key: key, Region: in.Region, OrgID: verify.OnboardingContext, Steps: verify.Full}
	if s.cfg.Verifier.GrantMode() && prov.Name() == domain.ProviderAWS {
		// The check proves the grant can be made and used, then retires it: it stores nothing.
		req.Grant, req.Ephemeral = grants.CheckName(), true
	}
	report := prov.Verify(ctx, req)
	kc := KeyCheck{Provider: prov.Name(), KeyARN: report.KeyARN, OK: report.OK(), Checks: report.Checks,
		PolicyStatement: prov.Statement(report.KeyARN)}
	if s.cfg.DataPrincipal != "" && prov.Name() == domain.ProviderAWS {
		kc.PolicyStatements = keypolicy.GrantModeStatements(s.cfg.PlatformPrincipal, s.cfg.DataPrincipal)
	}
	return kc, nil
}

// mayCheck refuses an organisation token a check of a key outside its organisation's linked
// accounts. A name that is no key ARN at all makes no KMS call, so its check is anyone's.
func (s *Service) mayCheck(ctx context.Context, p domain.Principal, keyARN string) error {
	if p.Role == domain.RoleAdmin {
		return nil
	}
	if domain.ProviderOf(keyARN) != domain.ProviderAWS {
		return s.mayCheckScope(ctx, p, keyARN)
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

// mayCheckScope is mayCheck of a Google Cloud or Azure key: its project or vault must be one the
// organisation has linked a key of.
func (s *Service) mayCheckScope(ctx context.Context, p domain.Principal, keyID string) error {
	scope := domain.KeyScope(keyID)
	if scope == "" {
		return nil // names no key at all: its check makes no call
	}
	linked, err := s.cfg.Store.LinkedKeys(ctx, p.OrgID)
	if err != nil {
		return err
	}
	var scopes []string
	for _, k := range linked {
		if ks := domain.KeyScope(k); ks == scope {
			return nil
		} else if ks != "" && !slices.Contains(scopes, ks) {
			scopes = append(scopes, ks)
		}
	}
	e := domain.Errorf(domain.KindForbidden, domain.CodeKeyCheckNotAllowed,
		"an organisation's token may check only keys of the projects or vaults its organisation has linked; ask the platform operator to check this key")
	e.Details = map[string]any{"scopes": scopes}
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

// PolicyInput is what GET /v1/key-policy asks for: a key of a provider ("" is AWS) named by KeyID
// or, for AWS, KeyARN; Format json, terraform or (other providers) cli.
type PolicyInput struct {
	Provider, KeyARN, KeyID, Template, Format string
	AdditionalPrincipals                      []string
}

// Policy is generated access: JSON, or text (Terraform HCL, CLI lines) when Text is set.
type Policy struct {
	Text bool
	Body []byte
}

// KeyPolicy generates what the customer grants the platform on a key: for AWS the key policy (JSON
// or Terraform), for the others the access their provider renders (JSON, Terraform or CLI).
func (s *Service) KeyPolicy(in PolicyInput) (Policy, error) {
	prov, key, err := s.resolve(KeyRef{Provider: in.Provider, KeyARN: in.KeyARN, KeyID: in.KeyID}, "key_id")
	if err != nil {
		return Policy{}, err
	}
	if prov.Name() != domain.ProviderAWS {
		return s.providerAccess(prov, key, in)
	}
	arn, err := s.cfg.Rules.Check(key, "")
	if err != nil {
		if strings.TrimSpace(key) == "" {
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
		return Policy{Text: true, Body: []byte(hcl)}, nil
	}
	doc, err := keypolicy.Generate(req)
	if err != nil {
		return Policy{}, arnError(err)
	}
	b, err := keypolicy.JSON(doc)
	return Policy{Body: b}, err
}

// providerAccess is KeyPolicy of a Google Cloud or Azure key.
func (s *Service) providerAccess(prov provider.Provider, key string, in PolicyInput) (Policy, error) {
	if strings.TrimSpace(key) == "" {
		return Policy{}, domain.Errorf(domain.KindInvalid, domain.CodeKeyIDRequired, "key_id is required")
	}
	if in.Template != "" || len(in.AdditionalPrincipals) > 0 {
		return Policy{}, domain.Invalid("template", "template and additional_principal apply to AWS key policies only")
	}
	format := in.Format
	switch format {
	case "":
		format = "json"
	case "json", "terraform", "cli":
	default:
		return Policy{}, domain.Invalid("format", "format must be json, terraform or cli")
	}
	id, err := prov.Identify(key, "")
	if err != nil {
		return Policy{}, err
	}
	b, err := prov.Access(id, format)
	return Policy{Text: format != "json", Body: b}, err
}
