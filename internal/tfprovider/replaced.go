package tfprovider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

// The resources of an organisation that cmekd has no route to change: a collection, a secret scope,
// a webhook. Every argument replaces them, so they differ only in their schema, their create and
// read, and what their answers fill in; update, delete and import are replaced's, written once.

var (
	_ resource.ResourceWithImportState = (*collection)(nil)
	_ resource.ResourceWithImportState = (*secretScope)(nil)
	_ resource.ResourceWithImportState = (*webhook)(nil)
)

// replaced is what such a resource is beside its schema, create and read: its name in the words of
// its errors (noun), the attribute that names it in cmekd's paths (attr, the second part of its
// import id, whose syntax is syntax), what of its state a read changes (keep, which may be nil) and
// how cmekd deletes it (del).
type replaced[M any, D response] struct {
	api
	noun, attr, syntax string
	keep               func(plan, state *M)
	del                func(context.Context, *client.ClientWithResponses, *M) (D, error)
}

// Update is never called with a change: every argument requires replacement.
func (r *replaced[M, D]) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	unchanged(ctx, req, resp, r.keep)
}

func (r *replaced[M, D]) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	remove(ctx, req, resp, "delete the "+r.noun, func(ctx context.Context, m *M) (D, error) { return r.del(ctx, r.c, m) })
}

func (r *replaced[M, D]) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importChild(ctx, req, resp, r.attr, r.syntax)
}

// collection is cmekd_collection. cmekd has no route to change a collection, so every argument
// replaces it (deleting its documents): the plan says so.
type collection struct {
	replaced[collectionModel, *client.DeleteCollectionResponse]
}

func newCollection() resource.Resource {
	return &collection{replaced[collectionModel, *client.DeleteCollectionResponse]{api: api{suffix: "_collection"},
		noun: "collection", attr: "id", syntax: "<org id>/<collection id>",
		keep: func(plan, state *collectionModel) { plan.State, plan.StateReason = state.State, state.StateReason },
		del: func(ctx context.Context, c *client.ClientWithResponses, m *collectionModel) (*client.DeleteCollectionResponse, error) {
			return c.DeleteCollectionWithResponse(ctx, m.OrgID.ValueString(), m.ID.ValueString())
		}}}
}

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
			"region": replacedOnChange(unknownKept(optionalComputed("A region the organisation uses (default: its home). Changing it replaces the collection."))),
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
	create(ctx, req, resp, "create the "+r.noun, func(ctx context.Context, plan *collectionModel) (*client.CreateCollectionResponse, error) {
		return r.c.CreateCollectionWithResponse(ctx, plan.OrgID.ValueString(), client.CreateCollectionJSONRequestBody{
			Name:        plan.Name.ValueString(),
			Region:      plan.Region.ValueStringPointer(),
			Recoverable: plan.Recoverable.ValueBoolPointer(),
		})
	}, func(m *collectionModel, out *client.CreateCollectionResponse) { m.fill(out.JSON201) })
}

func (r *collection) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	readBack(ctx, req, resp, "read the "+r.noun, func(ctx context.Context, m *collectionModel) (*client.GetCollectionResponse, error) {
		return r.c.GetCollectionWithResponse(ctx, m.OrgID.ValueString(), m.ID.ValueString())
	}, nil, func(m *collectionModel, out *client.GetCollectionResponse) { m.fill(out.JSON200) })
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

// secretScope is cmekd_secret_scope. cmekd names a scope by its name in every path and cannot
// rename one, so a new name replaces the scope, and its secrets and role assignments go with it.
type secretScope struct {
	replaced[secretScopeModel, *client.DeleteSecretScopeResponse]
}

func newSecretScope() resource.Resource {
	return &secretScope{replaced[secretScopeModel, *client.DeleteSecretScopeResponse]{api: api{suffix: "_secret_scope"},
		noun: "secret scope", attr: "name", syntax: "<org id>/<scope name>",
		del: func(ctx context.Context, c *client.ClientWithResponses, m *secretScopeModel) (*client.DeleteSecretScopeResponse, error) {
			return c.DeleteSecretScopeWithResponse(ctx, m.OrgID.ValueString(), m.Name.ValueString())
		}}}
}

type secretScopeModel struct {
	child
	Name      types.String `tfsdk:"name"`
	CreatedBy types.String `tfsdk:"created_by"`
}

func (r *secretScope) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A secret scope of an organisation; the token that creates it becomes its manager.",
		Attributes: childAttributes("The scope's id (scp_…).", "", map[string]schema.Attribute{
			"name": replacedOnChange(schema.StringAttribute{
				Required:    true,
				Description: "The scope's name, which names it in cmekd's paths. Changing it replaces the scope, deleting its secrets and role assignments.",
			}),
			"created_by": stable("The creating token's id, or admin."),
		}),
	}
}

func (r *secretScope) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	create(ctx, req, resp, "create the "+r.noun, func(ctx context.Context, plan *secretScopeModel) (*client.CreateSecretScopeResponse, error) {
		return r.c.CreateSecretScopeWithResponse(ctx, plan.OrgID.ValueString(),
			client.CreateSecretScopeJSONRequestBody{Name: plan.Name.ValueString()})
	}, func(m *secretScopeModel, out *client.CreateSecretScopeResponse) { m.fill(out.JSON201) })
}

func (r *secretScope) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	readBack(ctx, req, resp, "read the "+r.noun, func(ctx context.Context, m *secretScopeModel) (*client.GetSecretScopeResponse, error) {
		return r.c.GetSecretScopeWithResponse(ctx, m.OrgID.ValueString(), m.Name.ValueString())
	}, func(m *secretScopeModel, out *client.GetSecretScopeResponse) bool {
		// A scope deleted and made again under the same name out of band is another scope.
		return out.JSON200 == nil || m.ID.IsNull() || out.JSON200.Id == m.ID.ValueString()
	}, func(m *secretScopeModel, out *client.GetSecretScopeResponse) { m.fill(out.JSON200) })
}

func (m *secretScopeModel) fill(s *client.SecretScope) {
	m.ID = types.StringValue(s.Id)
	m.Name = types.StringValue(s.Name)
	m.CreatedBy = types.StringValue(s.CreatedBy)
	m.CreatedAt = types.StringValue(timestamp(s.CreatedAt))
}

// webhook is cmekd_webhook. Its signing secret is shown by cmekd once, at creation: it is kept in
// state as given then (sensitive) and never read again, so an imported webhook has none.
type webhook struct {
	replaced[webhookModel, *client.DeleteWebhookResponse]
}

func newWebhook() resource.Resource {
	return &webhook{replaced[webhookModel, *client.DeleteWebhookResponse]{api: api{suffix: "_webhook"},
		noun: "webhook", attr: "id", syntax: "<org id>/<webhook id>",
		keep: func(plan, state *webhookModel) { plan.Status = state.Status },
		del: func(ctx context.Context, c *client.ClientWithResponses, m *webhookModel) (*client.DeleteWebhookResponse, error) {
			return c.DeleteWebhookWithResponse(ctx, m.OrgID.ValueString(), m.ID.ValueString())
		}}}
}

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
	create(ctx, req, resp, "create the "+r.noun, func(ctx context.Context, plan *webhookModel) (*client.CreateWebhookResponse, error) {
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
	readBack(ctx, req, resp, "read the "+r.noun, func(ctx context.Context, m *webhookModel) (*client.GetWebhookResponse, error) {
		return r.c.GetWebhookWithResponse(ctx, m.OrgID.ValueString(), m.ID.ValueString())
	}, nil, func(m *webhookModel, out *client.GetWebhookResponse) {
		resp.Diagnostics.Append(m.fill(ctx, *out.JSON200)...)
	})
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
