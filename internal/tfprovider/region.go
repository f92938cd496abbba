package tfprovider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
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
	child
	Region types.String `tfsdk:"region"`
	keyLink
	Home     types.Bool     `tfsdk:"home"`
	Status   types.String   `tfsdk:"status"`
	Timeouts timeouts.Value `tfsdk:"timeouts"`
}

func (r *region) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A region an organisation uses beyond its home, with its own data key (and optional backup key). Owner or operator.",
		Attributes: childAttributes("<org id>/<region>, also the import id.", "", linkAttributes(
			unknownKept(optionalComputed("The region's data key, of the organisation's provider: an AWS key ARN, a Google Cloud CryptoKey name or a versionless Azure key URL. Omitted with key_arn: the replica of the multi-region AWS home key in this region (Google Cloud and Azure need it). Linked for good.")),
			unknownKept(optionalComputed("For aws, the region's data key ARN: a synonym of key_id (shown in state beside it); refused by cmekd for the other providers. Linked for good.")),
			"An optional backup key of the region, of the organisation's provider. Linked for good.", map[string]schema.Attribute{
				"org_id": schema.StringAttribute{
					Required:    true,
					Description: "The organisation's id. Linked for good: cannot change.",
				},
				"region": schema.StringAttribute{
					Required:    true,
					Description: "The region to add, e.g. us-west-2. Linked for good: cannot change.",
				},
				"home":   schema.BoolAttribute{Computed: true, Description: "Whether this is the home region (false for regions added here)."},
				"status": schema.StringAttribute{Computed: true, Description: "The data key's health as of the last read."},
			})),
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true}),
		},
	}
}

// ModifyPlan plans key_id and key_arn (and their backup twins) from whichever the configuration
// gives, then fails a plan that changes a linked region. cmekd answers any second link of a region
// with region_already_linked and has no route to unlink one, so replacing would only leave the old
// link behind; the words are cmekd's.
func (r *region) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	config, ok := planLink(ctx, &req, resp, planRegionKeys)
	if !ok {
		return
	}
	state, _, changed := relinked(ctx, req, &resp.Diagnostics, func(state, plan *regionModel) []linkPart {
		return state.parts(&plan.keyLink, linkPart{"org_id", state.OrgID, plan.OrgID}, linkPart{"region", state.Region, plan.Region})
	})
	for _, p := range written(changed, config.configured(map[string]types.String{"org_id": config.OrgID, "region": config.Region})) {
		resp.Diagnostics.AddAttributeError(p, "cmekd refuses to change a region: region_already_linked",
			fmt.Sprintf("the organisation already uses region %s; a region's key links are for good.\n"+
				"cmekd can neither change nor remove a region's key link; it goes only with its organisation.", state.Region.ValueString()))
	}
}

// planRegionKeys plans both names of the region's keys from those the configuration gives. A data
// key given by neither is the replica cmekd finds: what it answers, or what state holds.
func planRegionKeys(config, planned *regionModel) {
	if !config.KeyID.IsNull() || !config.KeyARN.IsNull() {
		planned.KeyID, planned.KeyARN = synonyms(providerOfKey(config.KeyID, config.KeyARN), config.KeyID, config.KeyARN)
	}
	planned.BackupKeyID, planned.BackupKeyARN = synonyms(providerOfKey(config.BackupKeyID, config.BackupKeyARN), config.BackupKeyID, config.BackupKeyARN)
}

// providerOfKey is the provider a region's key belongs to as far as the plan can tell from its
// names (a region has no provider of its own: it is its organisation's): aws for an ARN, unknown
// while the key is, another provider otherwise.
func providerOfKey(id, arn types.String) types.String {
	key := id
	if key.IsNull() {
		key = arn
	}
	switch {
	case key.IsUnknown():
		return types.StringUnknown()
	case strings.HasPrefix(key.ValueString(), "arn:"):
		return types.StringValue("aws")
	}
	return types.StringValue("other")
}

func (r *region) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	createVerified(ctx, req, resp, "add the region", regionCreateTimeout, func(m *regionModel) timeouts.Value { return m.Timeouts },
		func(ctx context.Context, plan *regionModel) (*client.AddRegionResponse, error) {
			return r.c.AddRegionWithResponse(ctx, plan.OrgID.ValueString(), client.AddRegionJSONRequestBody{
				Region:       plan.Region.ValueString(),
				KeyId:        plan.KeyID.ValueStringPointer(),
				KeyArn:       plan.KeyARN.ValueStringPointer(),
				BackupKeyId:  plan.BackupKeyID.ValueStringPointer(),
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

// nonEmpty is s in state, or null for cmekd's "" (none).
func nonEmpty(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func (m *regionModel) fill(org string, g *client.OrgRegion) {
	m.ID = types.StringValue(org + "/" + g.Region)
	m.OrgID = types.StringValue(org)
	m.Region = types.StringValue(g.Region)
	m.KeyID, m.KeyARN = types.StringValue(g.KeyId), types.StringValue(g.KeyArn)
	if g.KeyArn == "" && g.KeyId != "" { // another provider's key: no ARN, as synonyms plans it
		m.KeyARN = types.StringNull()
	}
	m.BackupKeyID, m.BackupKeyARN = nonEmpty(g.BackupKeyId), nonEmpty(g.BackupKeyArn)
	m.Home = types.BoolValue(g.Home)
	m.Status = types.StringValue(string(g.Status))
	m.CreatedAt = types.StringValue(timestamp(g.CreatedAt))
}
