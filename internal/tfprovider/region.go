package tfprovider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

// regionCreateTimeout bounds a region's verification, waiting for a replica key included.
const regionCreateTimeout = 5 * time.Minute

var (
	_ resource.ResourceWithImportState = (*region)(nil)
	_ resource.ResourceWithModifyPlan  = (*region)(nil)
)

// region is cmekd_region: one more region an organisation uses, with its own key links. cmekd has
// no way to change or remove a region's link, so any change fails the plan and destroy only forgets.
type region struct{ api }

func newRegion() resource.Resource { return &region{api{suffix: "_region"}} }

type regionModel struct {
	ID           types.String   `tfsdk:"id"`
	OrgID        types.String   `tfsdk:"org_id"`
	Region       types.String   `tfsdk:"region"`
	KeyARN       types.String   `tfsdk:"key_arn"`
	BackupKeyARN types.String   `tfsdk:"backup_key_arn"`
	Home         types.Bool     `tfsdk:"home"`
	Status       types.String   `tfsdk:"status"`
	CreatedAt    types.String   `tfsdk:"created_at"`
	Timeouts     timeouts.Value `tfsdk:"timeouts"`
}

func (r *region) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A region an organisation uses beyond its home, with its own data key (and optional backup key). Owner or operator.",
		Attributes: map[string]schema.Attribute{
			"id": stable("<org id>/<region>, also the import id."),
			"org_id": schema.StringAttribute{
				Required:    true,
				Description: "The organisation's id. Linked for good: cannot change.",
			},
			"region": schema.StringAttribute{
				Required:    true,
				Description: "The region to add, e.g. us-west-2. Linked for good: cannot change.",
			},
			"key_arn": schema.StringAttribute{
				Optional:      true,
				Computed:      true,
				Description:   "The region's data key. Omitted: the replica of the multi-region home key in this region. Linked for good.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"backup_key_arn": schema.StringAttribute{
				Optional:    true,
				Description: "An optional backup key of the region. Linked for good.",
			},
			"home":       schema.BoolAttribute{Computed: true, Description: "Whether this is the home region (false for regions added here)."},
			"status":     schema.StringAttribute{Computed: true, Description: "The data key's health as of the last read."},
			"created_at": stable("RFC 3339, UTC."),
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true}),
		},
	}
}

// ModifyPlan fails a plan that changes a linked region. cmekd answers any second link of a region
// with region_already_linked and has no route to unlink one, so replacing would only leave the old
// link behind; the words are cmekd's.
func (r *region) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	state, _, changed := relinked(ctx, req, &resp.Diagnostics, func(state, plan *regionModel) []linkPart {
		return []linkPart{
			{"org_id", state.OrgID, plan.OrgID},
			{"region", state.Region, plan.Region},
			{"key_arn", state.KeyARN, plan.KeyARN},
			{"backup_key_arn", state.BackupKeyARN, plan.BackupKeyARN},
		}
	})
	for _, p := range changed {
		resp.Diagnostics.AddAttributeError(p, "cmekd refuses to change a region: region_already_linked",
			fmt.Sprintf("the organisation already uses region %s; a region's key links are for good.\n"+
				"cmekd can neither change nor remove a region's key link; it goes only with its organisation.", state.Region.ValueString()))
	}
}

func (r *region) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	createVerified(ctx, req, resp, "add the region", regionCreateTimeout, func(m *regionModel) timeouts.Value { return m.Timeouts },
		func(ctx context.Context, plan *regionModel) (*client.AddRegionResponse, error) {
			return r.c.AddRegionWithResponse(ctx, plan.OrgID.ValueString(), client.AddRegionJSONRequestBody{
				Region:       plan.Region.ValueString(),
				KeyArn:       plan.KeyARN.ValueStringPointer(),
				BackupKeyArn: plan.BackupKeyARN.ValueStringPointer(),
			})
		}, func(m *regionModel, out *client.AddRegionResponse) { m.fill(m.OrgID.ValueString(), out.JSON201) })
}

func (r *region) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	readBack(ctx, req, resp, "read the region", func(ctx context.Context, m *regionModel) (*client.GetRegionResponse, error) {
		return r.c.GetRegionWithResponse(ctx, m.OrgID.ValueString(), m.Region.ValueString())
	}, nil, func(m *regionModel, out *client.GetRegionResponse) { m.fill(m.OrgID.ValueString(), out.JSON200) })
}

// Update changes nothing in cmekd: every argument that can be set fails the plan when changed, so
// only timeouts get here (the first apply after an import records them).
func (r *region) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	unchanged(ctx, req, resp, func(plan, state *regionModel) { plan.Home, plan.Status = state.Home, state.Status })
}

// Delete only forgets: a region's key link lasts as long as its organisation.
func (r *region) Delete(_ context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	resp.Diagnostics.AddWarning("cmekd keeps the region",
		"cmekd has no way to remove a region from an organisation: its key link lasts until the organisation is deleted. "+
			"The region is only removed from Terraform's state.")
}

func (r *region) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importChild(ctx, req, resp, "region", "<org id>/<region>")
}

func (m *regionModel) fill(org string, g *client.OrgRegion) {
	m.ID = types.StringValue(org + "/" + g.Region)
	m.OrgID = types.StringValue(org)
	m.Region = types.StringValue(g.Region)
	m.KeyARN = types.StringValue(g.KeyArn)
	m.BackupKeyARN = types.StringNull()
	if g.BackupKeyArn != "" {
		m.BackupKeyARN = types.StringValue(g.BackupKeyArn)
	}
	m.Home = types.BoolValue(g.Home)
	m.Status = types.StringValue(string(g.Status))
	m.CreatedAt = types.StringValue(timestamp(g.CreatedAt))
}
