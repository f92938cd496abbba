package tfprovider

import (
	"context"
	"net/http"
	"reflect"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// The resources differ in what they ask cmekd and how they copy its answer into their model; what
// they do around that (read the plan or state, report a request without an answer or an error
// answer, drop an object deleted out of band, save the state) is written once here.

// response is a response of the generated client: each has its body (GetBody) and, in its field
// HTTPResponse, the answer itself.
type response interface{ GetBody() []byte }

// answerOf is a response's HTTPResponse field, which the generated types have no method for.
func answerOf(out response) *http.Response {
	return reflect.Indirect(reflect.ValueOf(out)).FieldByName("HTTPResponse").Interface().(*http.Response)
}

// answered reports a request that got no answer or an error answer, as what, and says whether cmekd
// answered with a success.
func answered(diags *diag.Diagnostics, what string, out response, err error) bool {
	return !unreachable(diags, what, err) && !failed(diags, what, answerOf(out), out.GetBody())
}

// getter is what holds a model in Terraform's requests: a plan, a state or a configuration.
type getter interface {
	Get(ctx context.Context, target any) diag.Diagnostics
}

// stored reads a model from a plan, state or configuration; ok is false when it could not.
func stored[M any](ctx context.Context, from getter, diags *diag.Diagnostics) (m M, ok bool) {
	diags.Append(from.Get(ctx, &m)...)
	return m, !diags.HasError()
}

// create asks cmekd to create what the plan describes (call) and saves the plan as fill completes
// it from the answer. call may report a plan it cannot send in diags and ask nothing: then nothing
// more is done.
func create[M any, R response](ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse,
	what string, call func(context.Context, *M) (R, error), fill func(*M, R)) {
	plan, ok := stored[M](ctx, req.Plan, &resp.Diagnostics)
	if !ok {
		return
	}
	out, err := call(ctx, &plan)
	if resp.Diagnostics.HasError() || !answered(&resp.Diagnostics, what, out, err) {
		return
	}
	fill(&plan, out)
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
}

// createVerified is create for a resource whose key cmekd verifies (an organisation, a region):
// within the create timeout (the model's timeouts, or byDefault), the request is asked again while
// the verification may pass soon (untilVerified).
func createVerified[M any, R response](ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse,
	what string, byDefault time.Duration, timeoutsOf func(*M) timeouts.Value,
	call func(context.Context, *M) (R, error), fill func(*M, R)) {
	create(ctx, req, resp, what, func(ctx context.Context, plan *M) (R, error) {
		timeout, diags := timeoutsOf(plan).Create(ctx, byDefault)
		resp.Diagnostics.Append(diags...)
		if diags.HasError() {
			var none R
			return none, nil
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return untilVerified(ctx, func(ctx context.Context) (R, error) { return call(ctx, plan) })
	}, fill)
}

// readBack refreshes a resource's state from cmekd: call asks for the object, fill copies the answer
// into the model. An object cmekd no longer has (404), or one that same says is another object,
// leaves the state, so the next plan creates it again; same may be nil.
func readBack[M any, R response](ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse,
	what string, call func(context.Context, *M) (R, error), same func(*M, R) bool, fill func(*M, R)) {
	state, ok := stored[M](ctx, req.State, &resp.Diagnostics)
	if !ok {
		return
	}
	out, err := call(ctx, &state)
	if unreachable(&resp.Diagnostics, what, err) {
		return
	}
	if gone(answerOf(out)) || (same != nil && !same(&state, out)) {
		resp.State.RemoveResource(ctx)
		return
	}
	if failed(&resp.Diagnostics, what, answerOf(out), out.GetBody()) {
		return
	}
	fill(&state, out)
	resp.Diagnostics.Append(resp.State.Set(ctx, state)...)
}

// unchanged is the Update of a resource that cmekd is not asked to change: every argument replaces
// it or fails the plan, so only timeouts get here. The plan is saved with what only a read changes
// taken from state by keep (which may be nil).
func unchanged[M any](ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse, keep func(plan, state *M)) {
	var plan, state M
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if keep != nil {
		keep(&plan, &state)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
}

// remove asks cmekd to delete the object in state (call); one already gone is deleted.
func remove[M any, R response](ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse,
	what string, call func(context.Context, *M) (R, error)) {
	state, ok := stored[M](ctx, req.State, &resp.Diagnostics)
	if !ok {
		return
	}
	out, err := call(ctx, &state)
	if unreachable(&resp.Diagnostics, what, err) || gone(answerOf(out)) {
		return
	}
	failed(&resp.Diagnostics, what, answerOf(out), out.GetBody())
}

// linkPart is one attribute of a key link as state and plan have it.
type linkPart struct {
	name        string
	state, plan types.String
}

// keyLink is the keys a link cmekd makes for good holds (an organisation's home region, another
// region): the data key and an optional backup key, each by key_id or, for aws, key_arn.
type keyLink struct {
	KeyID        types.String `tfsdk:"key_id"`
	KeyARN       types.String `tfsdk:"key_arn"`
	BackupKeyID  types.String `tfsdk:"backup_key_id"`
	BackupKeyARN types.String `tfsdk:"backup_key_arn"`
}

// parts are the link's attributes as state (k) and plan have them, after those of the resource
// named first (more).
func (k *keyLink) parts(plan *keyLink, more ...linkPart) []linkPart {
	return append(more, linkPart{"key_id", k.KeyID, plan.KeyID}, linkPart{"key_arn", k.KeyARN, plan.KeyARN},
		linkPart{"backup_key_id", k.BackupKeyID, plan.BackupKeyID}, linkPart{"backup_key_arn", k.BackupKeyARN, plan.BackupKeyARN})
}

// configured is the link's attributes by name as the configuration (k) writes them, with more.
func (k *keyLink) configured(more map[string]types.String) map[string]types.String {
	more["key_id"], more["key_arn"] = k.KeyID, k.KeyARN
	more["backup_key_id"], more["backup_key_arn"] = k.BackupKeyID, k.BackupKeyARN
	return more
}

// relinked reads state and plan of a resource whose key link cannot change, and lists the
// attributes of the link (from link) that the plan changes. Unknown counts as a change: a key being
// replaced cannot take the link with it. Nothing is listed while the resource is created or
// destroyed, or when state or plan cannot be read.
func relinked[M any](ctx context.Context, req resource.ModifyPlanRequest, diags *diag.Diagnostics,
	link func(state, plan *M) []linkPart) (state, plan M, changed []path.Path) {
	if req.State.Raw.IsNull() || req.Plan.Raw.IsNull() {
		return state, plan, nil
	}
	diags.Append(req.State.Get(ctx, &state)...)
	diags.Append(req.Plan.Get(ctx, &plan)...)
	if diags.HasError() {
		return state, plan, nil
	}
	for _, a := range link(&state, &plan) {
		if !a.state.Equal(a.plan) {
			changed = append(changed, path.Root(a.name))
		}
	}
	return state, plan, changed
}

// planLink plans the synonyms of a resource's key names from its configuration (names sets them
// in the plan) and saves that plan, so that relinked compares what would be sent. ok is false when
// the resource is destroyed or its configuration or plan cannot be read.
func planLink[M any](ctx context.Context, req *resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse,
	names func(config, plan *M)) (config M, ok bool) {
	if req.Plan.Raw.IsNull() {
		return config, false
	}
	var planned M
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	resp.Diagnostics.Append(req.Plan.Get(ctx, &planned)...)
	if resp.Diagnostics.HasError() {
		return config, false
	}
	names(&config, &planned)
	resp.Diagnostics.Append(resp.Plan.Set(ctx, planned)...)
	if resp.Diagnostics.HasError() {
		return config, false
	}
	req.Plan = resp.Plan
	return config, true
}

// written is where the errors about changed link attributes go: on those the configuration writes
// (configured holds each one's configured value), since a synonym planned from another would only
// repeat the error. A key removed altogether is reported where it was.
func written(changed []path.Path, configured map[string]types.String) []path.Path {
	var shown []path.Path
	for _, p := range changed {
		if v, ok := configured[p.String()]; ok && !v.IsNull() {
			shown = append(shown, p)
		}
	}
	if len(shown) == 0 && len(changed) > 0 {
		shown = changed[:1]
	}
	return shown
}
