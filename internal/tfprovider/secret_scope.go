package tfprovider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

var _ resource.ResourceWithImportState = (*secretScope)(nil)

// secretScope is cmekd_secret_scope. cmekd names a scope by its name in every path and cannot
// rename one, so a new name replaces the scope, and its secrets and role assignments go with it.
type secretScope struct{ api }

func newSecretScope() resource.Resource { return &secretScope{} }

type secretScopeModel struct {
	ID        types.String `tfsdk:"id"`
	OrgID     types.String `tfsdk:"org_id"`
	Name      types.String `tfsdk:"name"`
	CreatedBy types.String `tfsdk:"created_by"`
	CreatedAt types.String `tfsdk:"created_at"`
}

func (r *secretScope) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_secret_scope"
}

func (r *secretScope) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A secret scope of an organisation; the token that creates it becomes its manager.",
		Attributes: map[string]schema.Attribute{
			"id":     stable("The scope's id (scp_…)."),
			"org_id": orgAttribute(),
			"name": replacedOnChange(schema.StringAttribute{
				Required:    true,
				Description: "The scope's name, which names it in cmekd's paths. Changing it replaces the scope, deleting its secrets and role assignments.",
			}),
			"created_by": stable("The creating token's id, or admin."),
			"created_at": stable("RFC 3339, UTC."),
		},
	}
}

func (r *secretScope) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan secretScopeModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	out, err := r.c.CreateSecretScopeWithResponse(ctx, plan.OrgID.ValueString(),
		client.CreateSecretScopeJSONRequestBody{Name: plan.Name.ValueString()})
	if unreachable(&resp.Diagnostics, "create the secret scope", err) ||
		failed(&resp.Diagnostics, "create the secret scope", out.HTTPResponse, out.Body) {
		return
	}
	plan.fill(out.JSON201)
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
}

func (r *secretScope) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state secretScopeModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	out, err := r.c.GetSecretScopeWithResponse(ctx, state.OrgID.ValueString(), state.Name.ValueString())
	if unreachable(&resp.Diagnostics, "read the secret scope", err) {
		return
	}
	// A scope deleted and made again under the same name out of band is another scope.
	if gone(out.HTTPResponse) || (out.JSON200 != nil && !state.ID.IsNull() && out.JSON200.Id != state.ID.ValueString()) {
		resp.State.RemoveResource(ctx)
		return
	}
	if failed(&resp.Diagnostics, "read the secret scope", out.HTTPResponse, out.Body) {
		return
	}
	state.fill(out.JSON200)
	resp.Diagnostics.Append(resp.State.Set(ctx, state)...)
}

// Update is never called with a change: every argument requires replacement.
func (r *secretScope) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan secretScopeModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
}

func (r *secretScope) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state secretScopeModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	out, err := r.c.DeleteSecretScopeWithResponse(ctx, state.OrgID.ValueString(), state.Name.ValueString())
	if unreachable(&resp.Diagnostics, "delete the secret scope", err) || gone(out.HTTPResponse) {
		return
	}
	failed(&resp.Diagnostics, "delete the secret scope", out.HTTPResponse, out.Body)
}

func (r *secretScope) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importChild(ctx, req, resp, "name", "<org id>/<scope name>")
}

func (m *secretScopeModel) fill(s *client.SecretScope) {
	m.ID = types.StringValue(s.Id)
	m.Name = types.StringValue(s.Name)
	m.CreatedBy = types.StringValue(s.CreatedBy)
	m.CreatedAt = types.StringValue(timestamp(s.CreatedAt))
}
