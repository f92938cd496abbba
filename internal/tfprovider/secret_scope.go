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

func newSecretScope() resource.Resource { return &secretScope{api{suffix: "_secret_scope"}} }

type secretScopeModel struct {
	child
	Name      types.String `tfsdk:"name"`
	CreatedBy types.String `tfsdk:"created_by"`
}

func (r *secretScope) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A secret scope of an organisation; the token that creates it becomes its manager.",
		Attributes: childAttributes("The scope's id (scp_…).", "", map[string]schema.Attribute{
			"name": replacedOnChange(schema.StringAttribute{
				Required:    true,
				Description: "The scope's name, which names it in cmekd's paths. Changing it replaces the scope, deleting its secrets and role assignments.",
			}),
			"created_by": stable("The creating token's id, or admin."),
		}),
	}
}

func (r *secretScope) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	create(ctx, req, resp, "create the secret scope", func(ctx context.Context, plan *secretScopeModel) (*client.CreateSecretScopeResponse, error) {
		return r.c.CreateSecretScopeWithResponse(ctx, plan.OrgID.ValueString(),
			client.CreateSecretScopeJSONRequestBody{Name: plan.Name.ValueString()})
	}, func(m *secretScopeModel, out *client.CreateSecretScopeResponse) { m.fill(out.JSON201) })
}

func (r *secretScope) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	readBack(ctx, req, resp, "read the secret scope", func(ctx context.Context, m *secretScopeModel) (*client.GetSecretScopeResponse, error) {
		return r.c.GetSecretScopeWithResponse(ctx, m.OrgID.ValueString(), m.Name.ValueString())
	}, func(m *secretScopeModel, out *client.GetSecretScopeResponse) bool {
		// A scope deleted and made again under the same name out of band is another scope.
		return out.JSON200 == nil || m.ID.IsNull() || out.JSON200.Id == m.ID.ValueString()
	}, func(m *secretScopeModel, out *client.GetSecretScopeResponse) { m.fill(out.JSON200) })
}

// Update is never called with a change: every argument requires replacement.
func (r *secretScope) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	unchanged[secretScopeModel](ctx, req, resp, nil)
}

func (r *secretScope) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	remove(ctx, req, resp, "delete the secret scope", func(ctx context.Context, m *secretScopeModel) (*client.DeleteSecretScopeResponse, error) {
		return r.c.DeleteSecretScopeWithResponse(ctx, m.OrgID.ValueString(), m.Name.ValueString())
	})
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
