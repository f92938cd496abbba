// Package tfprovider is cmekd's Terraform provider, built with terraform-plugin-framework over the
// generated client in client/. Each resource and data source is one file; the provider only lists
// them and hands each a configured client.
package tfprovider

import (
	"context"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

// Address is the provider's source address, as configurations name it in required_providers.
const Address = "registry.terraform.io/cmekd/cmekd"

// New returns the provider factory providerserver.Serve wants.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &cmekdProvider{version: version} }
}

var _ provider.Provider = (*cmekdProvider)(nil)

type cmekdProvider struct {
	version string
}

type providerModel struct {
	URL   types.String `tfsdk:"url"`
	Token types.String `tfsdk:"token"`
}

func (p *cmekdProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "cmekd"
	resp.Version = p.version
}

func (p *cmekdProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Manages cmekd organisations, their key links, collections, webhooks, secret scopes and key events.",
		Attributes: map[string]schema.Attribute{
			"url": schema.StringAttribute{
				Optional:    true,
				Description: "cmekd's base URL, e.g. http://127.0.0.1:8080. Default: the CMEKD_URL environment variable.",
			},
			"token": schema.StringAttribute{
				Optional:    true,
				Sensitive:   true,
				Description: "A bearer token of cmekd (the admin token to manage organisations). Default: the CMEKD_TOKEN environment variable.",
			},
		},
	}
}

func (p *cmekdProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if cfg.URL.IsUnknown() || cfg.Token.IsUnknown() {
		// Known only after apply (from another resource): resources are planned without a client.
		return
	}
	url := orEnv(cfg.URL, "CMEKD_URL")
	token := orEnv(cfg.Token, "CMEKD_TOKEN")
	if url == "" {
		resp.Diagnostics.AddAttributeError(path.Root("url"), "cmekd URL missing",
			"Set the provider's url attribute or the CMEKD_URL environment variable (make run prints it).")
	}
	if token == "" {
		resp.Diagnostics.AddAttributeError(path.Root("token"), "cmekd token missing",
			"Set the provider's token attribute or the CMEKD_TOKEN environment variable (make run prints it).")
	}
	if resp.Diagnostics.HasError() {
		return
	}
	c, err := client.New(url, token, client.Options{UserAgent: "terraform-provider-cmekd/" + p.version})
	if err != nil {
		resp.Diagnostics.AddError("cmekd client", err.Error())
		return
	}
	resp.ResourceData, resp.DataSourceData = c, c
}

// orEnv is the attribute's value when the configuration sets it, otherwise the environment's.
func orEnv(v types.String, name string) string {
	if !v.IsNull() && v.ValueString() != "" {
		return v.ValueString()
	}
	return os.Getenv(name)
}

func (p *cmekdProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		newOrganization,
		newRegion,
		newCollection,
		newWebhook,
		newSecretScope,
		newKeyEvents,
	}
}

func (p *cmekdProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		newKeyPolicy,
		newKeyCheck,
	}
}
