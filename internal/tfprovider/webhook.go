package tfprovider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

var _ resource.ResourceWithImportState = (*webhook)(nil)

// webhook is cmekd_webhook. Its signing secret is shown by cmekd once, at creation: it is kept in
// state as given then (sensitive) and never read again, so an imported webhook has none.
type webhook struct{ api }

func newWebhook() resource.Resource { return &webhook{api{suffix: "_webhook"}} }

type webhookModel struct {
	child
	URL    types.String `tfsdk:"url"`
	Events types.List   `tfsdk:"events"`
	Secret types.String `tfsdk:"secret"`
	Status types.String `tfsdk:"status"`
}

func (r *webhook) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	secret := stable("The signing secret (whsec_…), as cmekd showed it at creation; null after import.")
	secret.Sensitive = true
	resp.Schema = schema.Schema{
		Description: "An endpoint that hears of an organisation's events, signed with its secret. Owner or admin. Changing url or events replaces it (and its secret).",
		Attributes: childAttributes("The webhook's id (wh_…).", "", map[string]schema.Attribute{
			"url": replacedOnChange(schema.StringAttribute{
				Required:    true,
				Description: "Where deliveries are POSTed: https to a public address. Changing it replaces the webhook.",
			}),
			"events": schema.ListAttribute{
				Required:      true,
				ElementType:   types.StringType,
				Description:   `The event types to deliver, or ["*"]. Changing them replaces the webhook.`,
				PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()},
			},
			"secret": secret,
			"status": schema.StringAttribute{Computed: true, Description: "active, or disabled after 24 hours without a delivery."},
		}),
	}
}

func (r *webhook) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	create(ctx, req, resp, "create the webhook", func(ctx context.Context, plan *webhookModel) (*client.CreateWebhookResponse, error) {
		var events []string
		if resp.Diagnostics.Append(plan.Events.ElementsAs(ctx, &events, false)...); resp.Diagnostics.HasError() {
			return nil, nil
		}
		return r.c.CreateWebhookWithResponse(ctx, plan.OrgID.ValueString(),
			client.CreateWebhookJSONRequestBody{Url: plan.URL.ValueString(), Events: events})
	}, func(m *webhookModel, out *client.CreateWebhookResponse) {
		w := out.JSON201
		m.Secret = types.StringValue(w.Secret)
		resp.Diagnostics.Append(m.fill(ctx, client.Webhook{
			Id: w.Id, Url: w.Url, Events: w.Events, Status: client.WebhookStatus(w.Status), CreatedAt: w.CreatedAt,
		})...)
	})
}

func (r *webhook) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	readBack(ctx, req, resp, "read the webhook", func(ctx context.Context, m *webhookModel) (*client.GetWebhookResponse, error) {
		return r.c.GetWebhookWithResponse(ctx, m.OrgID.ValueString(), m.ID.ValueString())
	}, nil, func(m *webhookModel, out *client.GetWebhookResponse) {
		resp.Diagnostics.Append(m.fill(ctx, *out.JSON200)...)
	})
}

// Update is never called with a change: every argument requires replacement.
func (r *webhook) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	unchanged(ctx, req, resp, func(plan, state *webhookModel) { plan.Status = state.Status })
}

func (r *webhook) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	remove(ctx, req, resp, "delete the webhook", func(ctx context.Context, m *webhookModel) (*client.DeleteWebhookResponse, error) {
		return r.c.DeleteWebhookWithResponse(ctx, m.OrgID.ValueString(), m.ID.ValueString())
	})
}

func (r *webhook) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importChild(ctx, req, resp, "id", "<org id>/<webhook id>")
}

// fill copies what cmekd answered; the secret is left as it is (cmekd never shows it again).
func (m *webhookModel) fill(ctx context.Context, w client.Webhook) diag.Diagnostics {
	m.ID = types.StringValue(w.Id)
	m.URL = types.StringValue(w.Url)
	m.Status = types.StringValue(string(w.Status))
	m.CreatedAt = types.StringValue(timestamp(w.CreatedAt))
	var diags diag.Diagnostics
	m.Events, diags = types.ListValueFrom(ctx, types.StringType, w.Events)
	return diags
}
