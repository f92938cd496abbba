package tfprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

// The data sources about a key, cmekd_key_check and cmekd_key_policy, which name it alike (keyArgs).

// dataAPI is api for data sources, whose Configure has its own request types.
type dataAPI struct{ api }

// Metadata names a data source.
func (a *dataAPI) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + a.suffix
}

// Configure satisfies datasource.DataSourceWithConfigure.
func (a *dataAPI) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	a.configure(req.ProviderData, &resp.Diagnostics)
}

// keyArgs are the attributes of a data source about a key that name it: the key by key_id or, for
// aws, key_arn, and its provider; id is the key as cmekd took it.
type keyArgs struct {
	ID          types.String `tfsdk:"id"`
	KeyProvider types.String `tfsdk:"key_provider"`
	KeyID       types.String `tfsdk:"key_id"`
	KeyARN      types.String `tfsdk:"key_arn"`
}

// keyArgAttributes are keyArgs' schema, with what the data source says of the key's id (idDoc),
// of key_id (keyDoc) and of key_arn (arnDoc), and the data source's own attributes, more.
func keyArgAttributes(idDoc, keyDoc, arnDoc string, more map[string]dsschema.Attribute) map[string]dsschema.Attribute {
	attrs := map[string]dsschema.Attribute{
		"id": dsschema.StringAttribute{Computed: true, Description: idDoc},
		"key_provider": dsschema.StringAttribute{
			Optional:    true,
			Computed:    true,
			Description: "The key's provider: aws (default), gcp or azure.",
			Validators:  []validator.String{oneOf("aws", "gcp", "azure")},
		},
		"key_id":  dsschema.StringAttribute{Optional: true, Computed: true, Description: keyDoc},
		"key_arn": dsschema.StringAttribute{Optional: true, Description: arnDoc},
	}
	maps.Copy(attrs, more)
	return attrs
}

// provider is the provider the configuration names, or nil for cmekd's default (aws).
func (k *keyArgs) provider() *client.Provider {
	if k.KeyProvider.IsNull() {
		return nil
	}
	p := client.Provider(k.KeyProvider.ValueString())
	return &p
}

// keyCheck is the data source cmekd_key_check: cmekd's verification of a key, run at every read and
// storing nothing; a failed check is an answer, not an error, so configurations can assert on it
// (a check block or a precondition).
type keyCheck struct{ dataAPI }

func newKeyCheck() datasource.DataSource { return &keyCheck{dataAPI{api{suffix: "_key_check"}}} }

type keyCheckModel struct {
	keyArgs
	Region          types.String `tfsdk:"region"`
	OK              types.Bool   `tfsdk:"ok"`
	Checks          types.List   `tfsdk:"checks"`
	PolicyStatement types.String `tfsdk:"policy_statement"`
}

// checkAttrs is one check's object type in state.
var checkAttrs = map[string]attr.Type{
	"name": types.StringType, "ok": types.BoolType, "code": types.StringType,
	"action": types.StringType, "message": types.StringType,
}

func (d *keyCheck) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = dsschema.Schema{
		Description: "Runs cmekd's checks of a key (its identifier's rules, then each call cmekd will make to the key's provider) and stores nothing.",
		Attributes: keyArgAttributes("The key as checked.",
			"The key to check: an AWS key ARN, a Google Cloud CryptoKey name or a versionless Azure key URL. For aws, key_arn may name it instead.",
			"For aws, the full key ARN to check (a synonym of key_id).", map[string]dsschema.Attribute{
				"region": dsschema.StringAttribute{Optional: true, Description: "The region the key would be linked for; when given, the key must be in it (Azure keys do not tell their region)."},
				"ok":     dsschema.BoolAttribute{Computed: true, Description: "Every check passed."},
				"checks": dsschema.ListNestedAttribute{
					Computed:    true,
					Description: "Every check in the order it ran.",
					NestedObject: dsschema.NestedAttributeObject{Attributes: map[string]dsschema.Attribute{
						"name":    dsschema.StringAttribute{Computed: true, Description: "The check, e.g. generate_data_key."},
						"ok":      dsschema.BoolAttribute{Computed: true, Description: "Whether it passed."},
						"code":    dsschema.StringAttribute{Computed: true, Description: "Why it failed, e.g. access_denied; skipped when an earlier check failed."},
						"action":  dsschema.StringAttribute{Computed: true, Description: "The KMS action denied, e.g. kms:GenerateDataKey."},
						"message": dsschema.StringAttribute{Computed: true, Description: "What to do about it."},
					}},
				},
				"policy_statement": dsschema.StringAttribute{Computed: true, Description: "cmekd's key-policy statement for the key, as JSON."},
			}),
	}
}

func (d *keyCheck) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	m, ok := stored[keyCheckModel](ctx, req.Config, &resp.Diagnostics)
	if !ok {
		return
	}
	out, err := d.c.CheckKeyWithResponse(ctx, checkRequest(m))
	if !answered(&resp.Diagnostics, "check the key", out, err) {
		return
	}
	// The statement is kept as cmekd wrote it, not as the client's struct would write it again.
	var raw struct {
		PolicyStatement json.RawMessage `json:"policy_statement"`
	}
	if err := json.Unmarshal(out.Body, &raw); err != nil {
		resp.Diagnostics.AddError("cmekd answered a key check that is not JSON", err.Error())
		return
	}
	r := out.JSON200
	checks := make([]attr.Value, 0, len(r.Checks))
	for _, c := range r.Checks {
		checks = append(checks, types.ObjectValueMust(checkAttrs, map[string]attr.Value{
			"name": types.StringValue(string(c.Name)), "ok": types.BoolValue(c.Ok), "code": types.StringPointerValue(c.Code),
			"action": types.StringPointerValue(c.Action), "message": types.StringPointerValue(c.Message),
		}))
	}
	list, diags := types.ListValue(types.ObjectType{AttrTypes: checkAttrs}, checks)
	resp.Diagnostics.Append(diags...)
	m.ID = types.StringValue(r.KeyId)
	m.KeyID = types.StringValue(r.KeyId)
	m.KeyProvider = types.StringValue(string(r.Provider))
	if r.Provider == "" {
		m.KeyProvider = types.StringValue("aws")
	}
	m.OK = types.BoolValue(r.Ok)
	m.Checks = list
	m.PolicyStatement = types.StringValue(string(raw.PolicyStatement))
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// checkRequest is the body of the check a configuration asks for: the key by the names it gives,
// with its provider when it names one (cmekd's default is aws).
func checkRequest(m keyCheckModel) client.CheckKeyJSONRequestBody {
	return client.CheckKeyJSONRequestBody{KeyId: m.KeyID.ValueStringPointer(), KeyArn: m.KeyARN.ValueStringPointer(),
		Region: m.Region.ValueStringPointer(), Provider: m.provider()}
}

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
	resp.Schema = dsschema.Schema{
		Description: "The access that lets cmekd use the customer's key: exactly enough for every key check to pass.",
		Attributes: keyArgAttributes("The key, as key_id.",
			"The key: an AWS key ARN, a Google Cloud CryptoKey name or a versionless Azure key URL. For aws, key_arn may name it instead.",
			"For aws, the customer's full key ARN (the policy names its account as the key's owner); a synonym of key_id.", map[string]dsschema.Attribute{
				"template": dsschema.StringAttribute{
					Optional:    true,
					Description: `aws only. "full" (default): a whole key policy (the owner account's root, cmekd's use statement and grants statement), what aws_kms_key_policy and an aws_kms_key's policy replace the key's policy with. "statement": cmekd's statement alone, to merge into a policy of your own.`,
					Validators:  []validator.String{oneOf("full", "statement")},
				},
				"additional_principals": dsschema.ListAttribute{
					Optional:    true,
					ElementType: types.StringType,
					Description: "aws only. More IAM principals (role, user or root ARNs, or account ids) added to the use and grants statements.",
				},
				"json":      dsschema.StringAttribute{Computed: true, Description: "aws: the policy (or statement) as JSON. gcp: the IAM bindings to add on the CryptoKey; azure: the role assignment's properties."},
				"terraform": dsschema.StringAttribute{Computed: true, Description: "gcp and azure: the same access as Terraform (google_kms_crypto_key_iam_member, azurerm_role_assignment); null for aws."},
				"cli":       dsschema.StringAttribute{Computed: true, Description: "gcp and azure: the gcloud or az lines that grant the access; null for aws."},
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
	base := client.GetKeyPolicyParams{KeyId: m.KeyID.ValueStringPointer(), KeyArn: m.KeyARN.ValueStringPointer(), Provider: m.provider()}
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
