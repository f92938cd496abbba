package tfprovider

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

// keyPolicy is the data source cmekd_key_policy: the access cmekd needs on the customer's key. For
// AWS the key policy as JSON for aws_kms_key_policy (or an aws_kms_key's policy); for Google Cloud
// and Azure the IAM bindings or the role assignment, as JSON, as Terraform and as CLI lines.
type keyPolicy struct{ dataAPI }

func newKeyPolicy() datasource.DataSource { return &keyPolicy{dataAPI{api{suffix: "_key_policy"}}} }

type keyPolicyModel struct {
	keyArgs
	Template             types.String `tfsdk:"template"`
	AdditionalPrincipals types.List   `tfsdk:"additional_principals"`
	JSON                 types.String `tfsdk:"json"`
	Terraform            types.String `tfsdk:"terraform"`
	CLI                  types.String `tfsdk:"cli"`
}

func (d *keyPolicy) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The access that lets cmekd use the customer's key: exactly enough for every key check to pass.",
		Attributes: keyArgAttributes("The key, as key_id.",
			"The key: an AWS key ARN, a Google Cloud CryptoKey name or a versionless Azure key URL. For aws, key_arn may name it instead.",
			"For aws, the customer's full key ARN (the policy names its account as the key's owner); a synonym of key_id.", map[string]schema.Attribute{
				"template": schema.StringAttribute{
					Optional:    true,
					Description: `aws only. "full" (default): a whole key policy (the owner account's root, cmekd's use statement and grants statement), what aws_kms_key_policy and an aws_kms_key's policy replace the key's policy with. "statement": cmekd's statement alone, to merge into a policy of your own.`,
					Validators:  []validator.String{oneOf("full", "statement")},
				},
				"additional_principals": schema.ListAttribute{
					Optional:    true,
					ElementType: types.StringType,
					Description: "aws only. More IAM principals (role, user or root ARNs, or account ids) added to the use and grants statements.",
				},
				"json":      schema.StringAttribute{Computed: true, Description: "aws: the policy (or statement) as JSON. gcp: the IAM bindings to add on the CryptoKey; azure: the role assignment's properties."},
				"terraform": schema.StringAttribute{Computed: true, Description: "gcp and azure: the same access as Terraform (google_kms_crypto_key_iam_member, azurerm_role_assignment); null for aws."},
				"cli":       schema.StringAttribute{Computed: true, Description: "gcp and azure: the gcloud or az lines that grant the access; null for aws."},
			}),
	}
}

// policyRequest is one question the data source asks cmekd, and the attribute its answer fills.
type policyRequest struct {
	attr   string
	params client.GetKeyPolicyParams
}

// policyRequests are the questions a configuration asks: for aws the policy (template full unless
// told), for the other providers the access in each format. What cmekd refuses (a template for
// gcp, key_arn for azure) is sent as given, so that the error is cmekd's.
func policyRequests(ctx context.Context, m keyPolicyModel) ([]policyRequest, diag.Diagnostics) {
	var diags diag.Diagnostics
	base := client.GetKeyPolicyParams{KeyId: m.KeyID.ValueStringPointer(), KeyArn: m.KeyARN.ValueStringPointer()}
	if !m.KeyProvider.IsNull() {
		p := client.Provider(m.KeyProvider.ValueString())
		base.Provider = &p
	}
	if !m.Template.IsNull() {
		t := client.GetKeyPolicyParamsTemplate(m.Template.ValueString())
		base.Template = &t
	}
	if !m.AdditionalPrincipals.IsNull() {
		var more []string
		diags.Append(m.AdditionalPrincipals.ElementsAs(ctx, &more, false)...)
		base.AdditionalPrincipal = &more
	}
	if m.KeyProvider.IsNull() || m.KeyProvider.ValueString() == "aws" {
		if base.Template == nil {
			t := client.GetKeyPolicyParamsTemplate("full")
			base.Template = &t
		}
		return []policyRequest{{"json", base}}, diags
	}
	var out []policyRequest
	for _, f := range []client.GetKeyPolicyParamsFormat{client.Json, client.Terraform, client.Cli} {
		p := base
		p.Format = &f
		out = append(out, policyRequest{string(f), p})
	}
	return out, diags
}

func (d *keyPolicy) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	m, ok := stored[keyPolicyModel](ctx, req.Config, &resp.Diagnostics)
	if !ok {
		return
	}
	requests, diags := policyRequests(ctx, m)
	if resp.Diagnostics.Append(diags...); resp.Diagnostics.HasError() {
		return
	}
	m.JSON, m.Terraform, m.CLI = types.StringNull(), types.StringNull(), types.StringNull()
	for _, r := range requests {
		out, err := d.c.GetKeyPolicyWithResponse(ctx, &r.params)
		if !answered(&resp.Diagnostics, "generate the key policy", out, err) {
			return
		}
		switch r.attr {
		case "json":
			var compact bytes.Buffer
			if err := json.Compact(&compact, out.Body); err != nil {
				resp.Diagnostics.AddError("cmekd answered a key policy that is not JSON", err.Error())
				return
			}
			m.JSON = types.StringValue(compact.String())
		case "terraform":
			m.Terraform = types.StringValue(string(out.Body))
		case "cli":
			m.CLI = types.StringValue(string(out.Body))
		}
	}
	if m.KeyProvider.IsNull() {
		m.KeyProvider = types.StringValue("aws")
	}
	if m.KeyID.IsNull() {
		m.KeyID = m.KeyARN
	}
	m.ID = m.KeyID
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}
