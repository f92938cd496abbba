package tfprovider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

// api is what every resource and data source holds: its type name after the provider's (e.g.
// "_collection") and the client the provider configured. The client is nil while the provider's own
// configuration is unknown (planning before another resource exists).
type api struct {
	suffix string
	c      *client.ClientWithResponses
}

// Metadata names a resource.
func (a *api) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + a.suffix
}

// configure takes the client from the provider's ResourceData or DataSourceData.
func (a *api) configure(data any, diags *diag.Diagnostics) {
	if data == nil {
		return
	}
	c, ok := data.(*client.ClientWithResponses)
	if !ok {
		diags.AddError("cmekd provider", fmt.Sprintf("unexpected provider data %T", data))
		return
	}
	a.c = c
}

// Configure satisfies resource.ResourceWithConfigure.
func (a *api) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	a.configure(req.ProviderData, &resp.Diagnostics)
}

// unreachable reports a request that got no answer (network, timeout) and says whether there was one.
func unreachable(diags *diag.Diagnostics, what string, err error) bool {
	if err == nil {
		return false
	}
	diags.AddError("cmekd: cannot "+what, err.Error())
	return true
}

// failed reports an error answer of cmekd in its own words (message, code, request id, failed key
// checks) and says whether there was one.
func failed(diags *diag.Diagnostics, what string, resp *http.Response, body []byte) bool {
	summary, detail, refused := refusal(what, resp, body)
	if refused {
		diags.AddError(summary, detail)
	}
	return refused
}

// refusal is the summary and detail of an error answer; refused is false for a 2xx.
func refusal(what string, resp *http.Response, body []byte) (summary, detail string, refused bool) {
	var e *client.APIError
	if !errors.As(client.CheckResponse(resp, body), &e) {
		return "", "", false
	}
	if e.Code() == "" {
		return "cmekd: cannot " + what, e.Error(), true
	}
	return fmt.Sprintf("cmekd refused to %s: %s", what, e.Code()), e.Error() + detailsText(e), true
}

// detailsText adds the failed checks of a key_verification_failed answer, which say what to fix.
func detailsText(e *client.APIError) string {
	if e.Body.Error.Details.Checks == nil {
		return ""
	}
	var b strings.Builder
	for _, c := range *e.Body.Error.Details.Checks {
		if c.Ok {
			continue
		}
		fmt.Fprintf(&b, "\n  check %s: %s", c.Name, deref(c.Code))
		if c.Action != nil {
			fmt.Fprintf(&b, " (%s)", *c.Action)
		}
		if c.Message != nil {
			fmt.Fprintf(&b, ": %s", *c.Message)
		}
	}
	return b.String()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// gone says cmekd answered 404: the object was deleted out of band, so Read drops it from state
// and the next plan creates it again.
func gone(resp *http.Response) bool {
	return resp != nil && resp.StatusCode == http.StatusNotFound
}

// importParts splits an import id "a/b" into its n parts, or reports the expected syntax.
func importParts(id string, n int, syntax string, diags *diag.Diagnostics) []string {
	parts := strings.Split(id, "/")
	if len(parts) != n {
		diags.AddError("Unexpected import id", fmt.Sprintf("want %s, got %q", syntax, id))
		return nil
	}
	for _, p := range parts {
		if p == "" {
			diags.AddError("Unexpected import id", fmt.Sprintf("want %s, got %q", syntax, id))
			return nil
		}
	}
	return parts
}

// timestamp is how times are kept in state: RFC 3339 in UTC, as the API writes them.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// stable is a computed attribute (an id, a creation time) that changes only when the object is
// replaced, so updates in place plan it as it is.
func stable(description string) schema.StringAttribute {
	return unknownKept(schema.StringAttribute{Computed: true, Description: description})
}

// optionalComputed is an attribute the configuration may set and cmekd fills in when it does not.
func optionalComputed(description string) schema.StringAttribute {
	return schema.StringAttribute{Optional: true, Computed: true, Description: description}
}

// unknownKept is a computed attribute that a plan leaves as state has it rather than unknown.
func unknownKept(a schema.StringAttribute) schema.StringAttribute {
	a.PlanModifiers = append(a.PlanModifiers, stringplanmodifier.UseStateForUnknown())
	return a
}

// linkAttributes are keyLink's schema: key_id and key_arn as the resource describes them, the
// backup key by backup_key_id (backupDoc) or its aws synonym, added to the resource's own, more.
func linkAttributes(keyID, keyARN schema.StringAttribute, backupDoc string, more map[string]schema.Attribute) map[string]schema.Attribute {
	more["key_id"], more["key_arn"] = keyID, keyARN
	more["backup_key_id"] = optionalComputed(backupDoc)
	more["backup_key_arn"] = optionalComputed("For aws, a synonym of backup_key_id. Linked for good.")
	return more
}

// replacedOnChange is an attribute cmekd cannot change in place but lets Terraform delete and
// create again.
func replacedOnChange(a schema.StringAttribute) schema.StringAttribute {
	a.PlanModifiers = append(a.PlanModifiers, stringplanmodifier.RequiresReplace())
	return a
}

// orgAttribute names the organisation a child resource belongs to; another organisation means
// another object.
func orgAttribute() schema.StringAttribute {
	return replacedOnChange(schema.StringAttribute{
		Required:    true,
		Description: "The id of the organisation (org_…). Changing it replaces the resource.",
	})
}

// child is what a resource of an organisation keeps beside its own attributes: its id, its
// organisation and when cmekd created it.
type child struct {
	ID        types.String `tfsdk:"id"`
	OrgID     types.String `tfsdk:"org_id"`
	CreatedAt types.String `tfsdk:"created_at"`
}

// childAttributes are the schema of a resource of an organisation: id (described by idDoc), org_id
// (orgAttribute), created_at (createdDoc, or RFC 3339 when "") and its own, more, which may replace
// them.
func childAttributes(idDoc, createdDoc string, more map[string]schema.Attribute) map[string]schema.Attribute {
	if createdDoc == "" {
		createdDoc = "RFC 3339, UTC."
	}
	attrs := map[string]schema.Attribute{"id": stable(idDoc), "org_id": orgAttribute(), "created_at": stable(createdDoc)}
	maps.Copy(attrs, more)
	return attrs
}

// importChild sets org_id and the attribute that names the object in its paths (attr) from an import
// id "<org>/<x>"; Read fills in the rest.
func importChild(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse, attr, syntax string) {
	parts := importParts(req.ID, 2, syntax, &resp.Diagnostics)
	if parts == nil {
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("org_id"), parts[0])...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root(attr), parts[1])...)
}

// verifyRetry is how long a create waits before asking again after a verification that may pass
// soon.
const verifyRetry = 3 * time.Second

// untilVerified runs a create that verifies a key (an organisation, a region) until it is accepted,
// refused for good, or ctx (the create timeout) ends. A key policy just written, a replica still
// being made and an unreachable KMS pass on their own after a while, so those failures are asked
// again; anything else is answered at once. It returns the last answer; the error is a request
// that got none, unless an answer came before the timeout cut a retry short.
func untilVerified[R response](ctx context.Context, create func(context.Context) (R, error)) (R, error) {
	var last R
	answered := false
	for {
		out, err := create(ctx)
		if err != nil {
			if answered && ctx.Err() != nil {
				return last, nil
			}
			return last, err
		}
		last, answered = out, true
		if !mayPassSoon(answerOf(out), out.GetBody()) {
			return last, nil
		}
		t := time.NewTimer(verifyRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, nil
		case <-t.C:
		}
	}
}

// mayPassSoon says a key verification failed only for reasons that time may fix: access denied
// (key policies take a moment to apply), a key not found (a replica being made), KMS unreachable.
func mayPassSoon(resp *http.Response, body []byte) bool {
	var e *client.APIError
	if !errors.As(client.CheckResponse(resp, body), &e) || e.Code() != "key_verification_failed" {
		return false
	}
	if e.Body.Error.Details.Checks == nil {
		return false
	}
	failedAny := false
	for _, c := range *e.Body.Error.Details.Checks {
		if c.Ok {
			continue
		}
		switch deref(c.Code) {
		case "skipped":
		case "access_denied", "key_not_found", "kms_unavailable":
			failedAny = true
		default:
			return false
		}
	}
	return failedAny
}

// oneOf is a validator of strings that must be one of values.
func oneOf(values ...string) validator.String { return oneOfValidator(values) }

type oneOfValidator []string

func (v oneOfValidator) Description(context.Context) string {
	return "one of " + strings.Join(v, ", ")
}

func (v oneOfValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v oneOfValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() || slices.Contains(v, req.ConfigValue.ValueString()) {
		return
	}
	resp.Diagnostics.AddAttributeError(req.Path, "Invalid value", fmt.Sprintf("want %s, got %q", v.Description(ctx), req.ConfigValue.ValueString()))
}
