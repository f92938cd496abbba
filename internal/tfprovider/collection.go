package tfprovider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

var _ resource.ResourceWithImportState = (*collection)(nil)

// collection is cmekd_collection. cmekd has no route to change a collection, so every argument
// replaces it (deleting its documents): the plan says so.
type collection struct{ api }

func newCollection() resource.Resource { return &collection{api{suffix: "_collection"}} }

type collectionModel struct {
	child
	Name        types.String `tfsdk:"name"`
	Region      types.String `tfsdk:"region"`
	Recoverable types.Bool   `tfsdk:"recoverable"`
	State       types.String `tfsdk:"state"`
	StateReason types.String `tfsdk:"state_reason"`
}

func (r *collection) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A data collection of an organisation, encrypted under the key of its region. Changing any argument replaces it, documents included.",
		Attributes: childAttributes("The collection's id (col_…).", "", map[string]schema.Attribute{
			"name": replacedOnChange(schema.StringAttribute{
				Required:    true,
				Description: "The collection's name. cmekd cannot rename a collection: changing it replaces the collection.",
			}),
			"region": schema.StringAttribute{
				Optional:    true,
				Computed:    true,
				Description: "A region the organisation uses (default: its home). Changing it replaces the collection.",
				PlanModifiers: []planmodifier.String{
					stringplanmodifier.UseStateForUnknown(),
					stringplanmodifier.RequiresReplace(),
				},
			},
			"recoverable": schema.BoolAttribute{
				Optional:      true,
				Computed:      true,
				Default:       booldefault.StaticBool(true),
				Description:   "Whether a paused collection may be resumed (default true). Changing it replaces the collection.",
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()},
			},
			"state":        schema.StringAttribute{Computed: true, Description: "active, ingest_halted or paused, as of the last read."},
			"state_reason": schema.StringAttribute{Computed: true, Description: "Why the collection left active; empty when it has not."},
		}),
	}
}

func (r *collection) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	create(ctx, req, resp, "create the collection", func(ctx context.Context, plan *collectionModel) (*client.CreateCollectionResponse, error) {
		return r.c.CreateCollectionWithResponse(ctx, plan.OrgID.ValueString(), client.CreateCollectionJSONRequestBody{
			Name:        plan.Name.ValueString(),
			Region:      plan.Region.ValueStringPointer(),
			Recoverable: plan.Recoverable.ValueBoolPointer(),
		})
	}, func(m *collectionModel, out *client.CreateCollectionResponse) { m.fill(out.JSON201) })
}

func (r *collection) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	readBack(ctx, req, resp, "read the collection", func(ctx context.Context, m *collectionModel) (*client.GetCollectionResponse, error) {
		return r.c.GetCollectionWithResponse(ctx, m.OrgID.ValueString(), m.ID.ValueString())
	}, nil, func(m *collectionModel, out *client.GetCollectionResponse) { m.fill(out.JSON200) })
}

// Update is never called with a change: every argument requires replacement.
func (r *collection) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	unchanged(ctx, req, resp, func(plan, state *collectionModel) { plan.State, plan.StateReason = state.State, state.StateReason })
}

func (r *collection) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	remove(ctx, req, resp, "delete the collection", func(ctx context.Context, m *collectionModel) (*client.DeleteCollectionResponse, error) {
		return r.c.DeleteCollectionWithResponse(ctx, m.OrgID.ValueString(), m.ID.ValueString())
	})
}

func (r *collection) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importChild(ctx, req, resp, "id", "<org id>/<collection id>")
}

func (m *collectionModel) fill(c *client.Collection) {
	m.ID = types.StringValue(c.Id)
	m.Name = types.StringValue(c.Name)
	m.Region = types.StringValue(c.Region)
	m.Recoverable = types.BoolValue(c.Recoverable)
	m.State = types.StringValue(string(c.State))
	m.StateReason = types.StringValue(c.StateReason)
	m.CreatedAt = types.StringValue(timestamp(c.CreatedAt))
}
