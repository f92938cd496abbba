package api

import (
	"net/http"
	"strings"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
	"github.com/cmekd/cmekd/internal/verify"
)

type checkJSON struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Code    string `json:"code,omitempty"`
	Action  string `json:"action,omitempty"`
	Message string `json:"message,omitempty"`
}

func toChecks(r verify.Report) []checkJSON {
	out := make([]checkJSON, len(r.Checks))
	for i, c := range r.Checks {
		out[i] = checkJSON{Name: c.Name, OK: c.OK, Code: c.Code, Action: c.Action, Message: c.Message}
	}
	return out
}

// keyChecks runs §3 and §4 against a key and stores nothing; a failed check is still a 200.
func (a *API) keyChecks(w http.ResponseWriter, r *http.Request) {
	var req struct {
		KeyARN *string `json:"key_arn"`
		Region string  `json:"region"`
	}
	if _, err := decodeBody(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.KeyARN == nil {
		a.writeError(w, r, domain.Invalid("key_arn", "key_arn is required"))
		return
	}
	if req.Region != "" {
		if err := a.checkRegion(req.Region); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	report := a.verifier.Verify(r.Context(), *req.KeyARN, req.Region, verify.OnboardingContext, verify.Full)
	writeJSON(w, http.StatusOK, map[string]any{
		"key_arn":          report.KeyARN,
		"ok":               report.OK(),
		"checks":           toChecks(report),
		"policy_statement": keypolicy.UseStatement(a.platformPrincipal, nil),
	})
}

// keyPolicy answers the key policy the customer must add (§6), as JSON or Terraform.
func (a *API) keyPolicy(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	arn, err := a.rules.Check(q.Get("key_arn"), "")
	if err != nil {
		if strings.TrimSpace(q.Get("key_arn")) == "" {
			err = &keyarn.Error{Code: keyarn.CodeKeyARNRequired, Message: "key_arn is required: give the full key ARN, arn:aws:kms:<region>:<account>:key/<key-id>"}
		}
		a.writeError(w, r, arnError(err))
		return
	}
	tmpl := keypolicy.Template(q.Get("template"))
	if tmpl != "" && tmpl != keypolicy.TemplateStatement && tmpl != keypolicy.TemplateFull {
		a.writeError(w, r, domain.Invalid("template", "template must be statement or full"))
		return
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "terraform" {
		a.writeError(w, r, domain.Invalid("format", "format must be json or terraform"))
		return
	}
	req := keypolicy.Request{KeyARN: arn, PlatformPrincipal: a.platformPrincipal,
		AdditionalPrincipals: q["additional_principal"], Template: tmpl}
	if format == "terraform" {
		hcl, err := keypolicy.Terraform(req)
		if err != nil {
			a.writeError(w, r, arnError(err))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(hcl))
		return
	}
	doc, err := keypolicy.Generate(req)
	if err != nil {
		a.writeError(w, r, arnError(err))
		return
	}
	b, err := keypolicy.JSON(doc)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeRaw(w, http.StatusOK, b)
}

// verifyNewKey proves the platform can use the key of a new customer-managed organisation. A failure
// the customer can fix is 422 key_verification_failed; KMS being unreachable is 503 kms_unreachable.
func (a *API) verifyNewKey(r *http.Request, o domain.Org) error {
	report := a.verifier.Verify(r.Context(), o.KeyARN, o.Region, o.ID, verify.Full)
	if report.OK() {
		return nil
	}
	details := map[string]any{"checks": toChecks(report)}
	if report.Transient() {
		e := domain.Errorf(http.StatusServiceUnavailable, domain.CodeKMSUnreachable,
			"KMS could not be reached to verify the key; nothing was stored, retry shortly")
		e.Details, e.RetryAfter = details, 5
		return e
	}
	msg := "the key could not be verified; nothing was stored. Fix what the failed checks say and retry"
	if c, ok := report.FirstFailure(); ok && c.Message != "" {
		msg = "the key could not be verified (" + c.Name + "): " + c.Message
	}
	e := domain.Errorf(http.StatusUnprocessableEntity, domain.CodeKeyVerificationFailed, "%s", msg)
	e.Details = details
	return e
}
