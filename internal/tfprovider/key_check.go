package tfprovider

import (
	"context"
	"encoding/json"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

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
	resp.Schema = schema.Schema{
		Description: "Runs cmekd's checks of a key (its identifier's rules, then each call cmekd will make to the key's provider) and stores nothing.",
		Attributes: keyArgAttributes("The key as checked.",
			"The key to check: an AWS key ARN, a Google Cloud CryptoKey name or a versionless Azure key URL. For aws, key_arn may name it instead.",
			"For aws, the full key ARN to check (a synonym of key_id).", map[string]schema.Attribute{
				"region": schema.StringAttribute{Optional: true, Description: "The region the key would be linked for; when given, the key must be in it (Azure keys do not tell their region)."},
				"ok":     schema.BoolAttribute{Computed: true, Description: "Every check passed."},
				"checks": schema.ListNestedAttribute{
					Computed:    true,
					Description: "Every check in the order it ran.",
					NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
						"name":    schema.StringAttribute{Computed: true, Description: "The check, e.g. generate_data_key."},
						"ok":      schema.BoolAttribute{Computed: true, Description: "Whether it passed."},
						"code":    schema.StringAttribute{Computed: true, Description: "Why it failed, e.g. access_denied; skipped when an earlier check failed."},
						"action":  schema.StringAttribute{Computed: true, Description: "The KMS action denied, e.g. kms:GenerateDataKey."},
						"message": schema.StringAttribute{Computed: true, Description: "What to do about it."},
					}},
				},
				"policy_statement": schema.StringAttribute{Computed: true, Description: "cmekd's key-policy statement for the key, as JSON."},
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
	body := client.CheckKeyJSONRequestBody{KeyId: m.KeyID.ValueStringPointer(), KeyArn: m.KeyARN.ValueStringPointer(),
		Region: m.Region.ValueStringPointer()}
	if !m.KeyProvider.IsNull() {
		p := client.Provider(m.KeyProvider.ValueString())
		body.Provider = &p
	}
	return body
}
