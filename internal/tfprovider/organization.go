package tfprovider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

// orgCreateTimeout bounds the create's key verification, retries included, unless timeouts says.
const orgCreateTimeout = 2 * time.Minute

var (
	_ resource.ResourceWithImportState = (*organization)(nil)
	_ resource.ResourceWithModifyPlan  = (*organization)(nil)
)

// organization is cmekd_organization: an organisation and its home region's key link. The name
// changes in place; the key link (region, key_provider, key_id or key_arn, and the backup key) is linked for good, so changing
// it fails the plan with cmekd's own answer rather than replacing an organisation and its data.
type organization struct{ api }

func newOrganization() resource.Resource { return &organization{api{suffix: "_organization"}} }

type orgModel struct {
	ID          types.String `tfsdk:"id"`
	Name        types.String `tfsdk:"name"`
	Region      types.String `tfsdk:"region"`
	KeyProvider types.String `tfsdk:"key_provider"`
	keyLink
	Mode      types.String   `tfsdk:"mode"`
	KeyStatus types.String   `tfsdk:"key_status"`
	CreatedAt types.String   `tfsdk:"created_at"`
	Timeouts  timeouts.Value `tfsdk:"timeouts"`
}

func (r *organization) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "An organisation of cmekd and the key that protects its data. Needs the admin token.",
		Attributes: linkAttributes(
			optionalComputed("The customer's key (customer_managed): an AWS key ARN, a Google Cloud CryptoKey name or a versionless Azure key URL; omitted with key_arn: the platform's key (provider_managed). For aws, key_arn names the same key: give one. Verified at creation, linked for good."),
			optionalComputed("For aws, the customer's full KMS key ARN: a synonym of key_id (shown in state beside it); refused by cmekd for the other providers. Linked for good."),
			"An optional second key of the home region, of the same provider, for backups. Linked for good.", map[string]schema.Attribute{
				"id": stable("The organisation's id (org_…)."),
				"name": schema.StringAttribute{
					Required:    true,
					Description: "The organisation's name; renamed in place.",
				},
				"region": schema.StringAttribute{
					Required:    true,
					Description: "The home region. Part of the key link: cannot change.",
				},
				"key_provider": schema.StringAttribute{
					Optional:    true,
					Computed:    true,
					Default:     stringdefault.StaticString("aws"),
					Description: "The key's provider: aws (default), gcp or azure (cmekd's encryption.provider). Part of the key link: cannot change.",
					Validators:  []validator.String{oneOf("aws", "gcp", "azure")},
				},
				"mode":       stable("customer_managed or provider_managed."),
				"key_status": schema.StringAttribute{Computed: true, Description: "healthy, unavailable or unknown, as of the last read."},
				"created_at": stable("RFC 3339, UTC."),
			}),
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true}),
		},
	}
}

// ModifyPlan plans key_id and key_arn (and their backup twins) from whichever the configuration
// gives, then fails a plan that changes the key link, with the words cmekd answers such a change
// with: it asks cmekd (a PATCH that carries only encryption, which cmekd refuses before it looks at
// anything else), so the message is the one the API would give.
func (r *organization) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	config, ok := planLink(ctx, &req, resp, func(config, planned *orgModel) {
		planned.KeyID, planned.KeyARN = synonyms(planned.KeyProvider, config.KeyID, config.KeyARN)
		planned.BackupKeyID, planned.BackupKeyARN = synonyms(planned.KeyProvider, config.BackupKeyID, config.BackupKeyARN)
	})
	if !ok {
		return
	}
	state, plan, changed := relinked(ctx, req, &resp.Diagnostics, func(state, plan *orgModel) []linkPart {
		return state.parts(&plan.keyLink, linkPart{"region", state.Region, plan.Region},
			linkPart{"key_provider", state.KeyProvider, plan.KeyProvider})
	})
	if len(changed) == 0 {
		return
	}
	shown := written(changed, config.configured(map[string]types.String{"region": config.Region, "key_provider": config.KeyProvider}))
	summary, detail := "key link is immutable", "cmekd links an organisation's key for good."
	if r.c != nil {
		enc := map[string]any{"mode": "provider_managed"}
		if !plan.KeyID.IsNull() {
			enc = map[string]any{"mode": "customer_managed", "provider": plan.KeyProvider.ValueString(), "key_id": plan.KeyID.ValueString()}
		}
		out, err := r.c.UpdateOrgWithResponse(ctx, state.ID.ValueString(), client.UpdateOrgJSONRequestBody{Encryption: enc})
		switch {
		case err != nil:
			detail += " (cmekd could not be asked: " + err.Error() + ")"
		case gone(out.HTTPResponse):
			return // deleted out of band: Read drops it and the plan creates it anew
		default:
			if s, d, refused := refusal("change the key link", out.HTTPResponse, out.Body); refused {
				summary, detail = s, d
			}
		}
	}
	for _, p := range shown {
		resp.Diagnostics.AddAttributeError(p, summary, detail+
			"\nTo use another key, create a new cmekd_organization and move the data: Terraform does not replace an organisation, since deleting one deletes its data.")
	}
}

// synonyms plans a key's two names from the configuration: key_id is the key given by either, and
// key_arn, for aws, the same key (cmekd returns both); for the other providers key_arn stays as
// configured (cmekd refuses it). A provider not yet known leaves an unconfigured key_arn unknown.
func synonyms(provider, id, arn types.String) (types.String, types.String) {
	key := id
	if key.IsNull() {
		key = arn
	}
	if !arn.IsNull() || key.IsNull() {
		return key, arn
	}
	switch {
	case provider.IsUnknown():
		return key, types.StringUnknown()
	case provider.ValueString() == "aws":
		return key, key
	}
	return key, types.StringNull()
}

func (r *organization) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	createVerified(ctx, req, resp, "create the organisation", orgCreateTimeout, func(m *orgModel) timeouts.Value { return m.Timeouts },
		func(ctx context.Context, plan *orgModel) (*client.CreateOrgResponse, error) {
			body := client.CreateOrgJSONRequestBody{Name: plan.Name.ValueString(), Region: plan.Region.ValueString()}
			if body.Encryption = createEncryption(plan); body.Encryption == nil && plan.KeyProvider.ValueString() != "aws" {
				resp.Diagnostics.AddAttributeError(path.Root("key_id"), "key_id missing",
					"An organisation of key_provider "+plan.KeyProvider.ValueString()+" needs its key_id: only aws serves the platform's own key (provider_managed).")
				return nil, nil
			}
			return r.c.CreateOrgWithResponse(ctx, &client.CreateOrgParams{}, body)
		}, func(m *orgModel, out *client.CreateOrgResponse) { m.fill(out.JSON201) })
}

func (r *organization) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	readBack(ctx, req, resp, "read the organisation", func(ctx context.Context, m *orgModel) (*client.GetOrgResponse, error) {
		return r.c.GetOrgWithResponse(ctx, m.ID.ValueString())
	}, nil, func(m *orgModel, out *client.GetOrgResponse) { m.fill(out.JSON200) })
}

func (r *organization) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state orgModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if plan.Name.Equal(state.Name) { // only timeouts changed (the first apply after an import)
		plan.KeyStatus = state.KeyStatus
		resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
		return
	}
	name := plan.Name.ValueString()
	out, err := r.c.UpdateOrgWithResponse(ctx, plan.ID.ValueString(), client.UpdateOrgJSONRequestBody{Name: &name})
	if !answered(&resp.Diagnostics, "rename the organisation", out, err) {
		return
	}
	plan.fill(out.JSON200)
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
}

func (r *organization) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	remove(ctx, req, resp, "delete the organisation", func(ctx context.Context, m *orgModel) (*client.DeleteOrgResponse, error) {
		return r.c.DeleteOrgWithResponse(ctx, m.ID.ValueString())
	})
}

func (r *organization) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

// fill copies what cmekd answered into the model; the timeouts stay as configured.
func (m *orgModel) fill(o *client.Organization) {
	m.ID = types.StringValue(o.Id)
	m.Name = types.StringValue(o.Name)
	m.Region = types.StringValue(o.Region)
	m.KeyProvider = types.StringValue(string(o.Encryption.Provider))
	if o.Encryption.Provider == "" {
		m.KeyProvider = types.StringValue("aws")
	}
	m.KeyID = types.StringPointerValue(o.Encryption.KeyId)
	m.KeyARN = types.StringPointerValue(o.Encryption.KeyArn)
	m.BackupKeyID = types.StringPointerValue(o.Encryption.BackupKeyId)
	m.BackupKeyARN = types.StringPointerValue(o.Encryption.BackupKeyArn)
	m.Mode = types.StringValue(string(o.Encryption.Mode))
	m.KeyStatus = types.StringValue(string(o.Encryption.Status))
	m.CreatedAt = types.StringValue(timestamp(o.CreatedAt))
}

// createEncryption is the encryption of a create: customer_managed with the planned keys by both
// their names as planned, or nil (provider_managed) when the plan has no key.
func createEncryption(plan *orgModel) *client.OrganizationCreateEncryption {
	if plan.KeyID.IsNull() && plan.KeyARN.IsNull() && plan.BackupKeyID.IsNull() && plan.BackupKeyARN.IsNull() {
		return nil
	}
	provider := client.Provider(plan.KeyProvider.ValueString())
	return &client.OrganizationCreateEncryption{Mode: "customer_managed", Provider: &provider,
		KeyId: plan.KeyID.ValueStringPointer(), KeyArn: plan.KeyARN.ValueStringPointer(),
		BackupKeyId: plan.BackupKeyID.ValueStringPointer(), BackupKeyArn: plan.BackupKeyARN.ValueStringPointer()}
}
