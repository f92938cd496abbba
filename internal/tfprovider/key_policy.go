package tfprovider

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

// keyPolicy is the data source cmekd_key_policy: the key policy cmekd needs on the customer's key,
// as JSON for aws_kms_key_policy (or an aws_kms_key's policy).
type keyPolicy struct{ dataAPI }

func newKeyPolicy() datasource.DataSource { return &keyPolicy{dataAPI{api{suffix: "_key_policy"}}} }

type keyPolicyModel struct {
	ID                   types.String `tfsdk:"id"`
	KeyARN               types.String `tfsdk:"key_arn"`
	Template             types.String `tfsdk:"template"`
	AdditionalPrincipals types.List   `tfsdk:"additional_principals"`
	JSON                 types.String `tfsdk:"json"`
}

func (d *keyPolicy) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The key policy that lets cmekd use the customer's key: exactly enough for every key check to pass.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "The key ARN."},
			"key_arn": schema.StringAttribute{
				Required:    true,
				Description: "The customer's full key ARN (the policy names its account as the key's owner).",
			},
			"template": schema.StringAttribute{
				Optional:    true,
				Description: `"full" (default): a whole key policy (the owner account's root, cmekd's use statement and grants statement), what aws_kms_key_policy and an aws_kms_key's policy replace the key's policy with. "statement": cmekd's statement alone, to merge into a policy of your own.`,
				Validators:  []validator.String{oneOf("full", "statement")},
			},
			"additional_principals": schema.ListAttribute{
				Optional:    true,
				ElementType: types.StringType,
				Description: "More IAM principals (role, user or root ARNs, or account ids) added to the use and grants statements.",
			},
			"json": schema.StringAttribute{Computed: true, Description: "The policy (or statement) as JSON."},
		},
	}
}

func (d *keyPolicy) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m keyPolicyModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	params := client.GetKeyPolicyParams{KeyArn: m.KeyARN.ValueStringPointer()}
	template := client.GetKeyPolicyParamsTemplate("full")
	if !m.Template.IsNull() {
		template = client.GetKeyPolicyParamsTemplate(m.Template.ValueString())
	}
	params.Template = &template
	if !m.AdditionalPrincipals.IsNull() {
		var more []string
		resp.Diagnostics.Append(m.AdditionalPrincipals.ElementsAs(ctx, &more, false)...)
		params.AdditionalPrincipal = &more
	}
	if resp.Diagnostics.HasError() {
		return
	}
	out, err := d.c.GetKeyPolicyWithResponse(ctx, &params)
	if !answered(&resp.Diagnostics, "generate the key policy", out, err) {
		return
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, out.Body); err != nil {
		resp.Diagnostics.AddError("cmekd answered a key policy that is not JSON", err.Error())
		return
	}
	m.ID = m.KeyARN
	m.JSON = types.StringValue(compact.String())
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}
