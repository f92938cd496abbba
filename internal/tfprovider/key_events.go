package tfprovider

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/cmekd/cmekd/client"
)

var _ resource.ResourceWithImportState = (*keyEvents)(nil)

// keyEvents is cmekd_key_events: an organisation's key events turned on. cmekd shows the api key,
// and the setup that holds it, once, in its answer to the POST: they are kept in state as given
// then (sensitive) and never read again, so an imported one has none. Any change of rotate
// from one value to another replaces the resource, which turns events off and on again: a new api
// key and a new setup.
type keyEvents struct{ api }

func newKeyEvents() resource.Resource { return &keyEvents{api{suffix: "_key_events"}} }

type keyEventsModel struct {
	child
	Rotate         types.String `tfsdk:"rotate"`
	Endpoint       types.String `tfsdk:"endpoint"`
	APIKeyName     types.String `tfsdk:"api_key_name"`
	APIKey         types.String `tfsdk:"api_key"`
	EventPattern   types.String `tfsdk:"event_pattern"`
	CLI            types.String `tfsdk:"cli"`
	Terraform      types.String `tfsdk:"terraform"`
	CloudFormation types.String `tfsdk:"cloudformation"`
	EventsReceived types.Int64  `tfsdk:"events_received"`
	EventsMatched  types.Int64  `tfsdk:"events_matched"`
	LastEventName  types.String `tfsdk:"last_event_name"`
	LastEventAt    types.String `tfsdk:"last_event_at"`
}

func (r *keyEvents) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	secret := func(description string) schema.StringAttribute {
		a := stable(description)
		a.Sensitive = true
		return a
	}
	resp.Schema = schema.Schema{
		Description: "An organisation's key events turned on: AWS KMS events delivered by the customer's EventBridge make cmekd probe the key at once. Owner or admin; the organisation's keys must be AWS keys.",
		Attributes: childAttributes("The organisation's id, which names its key events.", "When events were turned on: RFC 3339, UTC.", map[string]schema.Attribute{
			"rotate": schema.StringAttribute{
				Optional:    true,
				Description: "Any value; changing it from one value to another replaces the resource: events are turned off and on again, with a new api key and setup (the old key stops working at once). Set where it was unset (after an import), it is only recorded.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplaceIf(
					func(_ context.Context, req planmodifier.StringRequest, resp *stringplanmodifier.RequiresReplaceIfFuncResponse) {
						resp.RequiresReplace = !req.StateValue.IsNull()
					}, "Changing rotate from a value replaces the key events (a new api key).", "Changing rotate from a value replaces the key events (a new api key).")},
			},
			"endpoint":        stable("Where EventBridge delivers the events."),
			"api_key_name":    stable("The header the api key is sent in (Cmekd-Events-Key)."),
			"api_key":         secret("The api key (kev_…) as cmekd showed it when events were turned on; null after import."),
			"event_pattern":   stable("The EventBridge rule's event pattern, as JSON, limited to the organisation's keys linked when events were turned on; null after import."),
			"cli":             secret("The AWS CLI script that sets up delivery in the keys' account; it holds the api key. Null after import."),
			"terraform":       secret("The same as a configuration of the AWS provider; it holds the api key. Null after import."),
			"cloudformation":  secret("The same as a CloudFormation template (JSON); it holds the api key. Null after import."),
			"events_received": schema.Int64Attribute{Computed: true, Description: "Events delivered with the right api key, matched or not, as of the last read."},
			"events_matched":  schema.Int64Attribute{Computed: true, Description: "Those that named a linked key, as of the last read."},
			"last_event_name": schema.StringAttribute{Computed: true, Description: "The CloudTrail event name of the last event (DisableKey…), or its detail type; empty before the first."},
			"last_event_at":   schema.StringAttribute{Computed: true, Description: "RFC 3339, UTC; null before the first event."},
		}),
	}
}

func (r *keyEvents) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	create(ctx, req, resp, "turn key events on", func(ctx context.Context, plan *keyEventsModel) (*client.EnableKeyEventsResponse, error) {
		return r.c.EnableKeyEventsWithResponse(ctx, plan.OrgID.ValueString())
	}, func(m *keyEventsModel, out *client.EnableKeyEventsResponse) {
		on := out.JSON201
		m.ID = m.OrgID
		m.Endpoint = types.StringValue(on.Endpoint)
		m.APIKeyName = types.StringValue(string(on.ApiKeyName))
		m.APIKey = types.StringValue(on.ApiKey)
		m.CLI = types.StringValue(on.Setup.Cli)
		m.Terraform = types.StringValue(on.Setup.Terraform)
		m.CloudFormation = types.StringValue(on.Setup.Cloudformation)
		m.EventPattern = types.StringValue(eventPattern(out.Body))
		// The counters and the creation time are what the status says; a fresh start has none.
		m.EventsReceived, m.EventsMatched = types.Int64Value(0), types.Int64Value(0)
		m.LastEventName, m.LastEventAt = types.StringValue(""), types.StringNull()
		m.CreatedAt = types.StringNull()
		st, err := r.c.GetKeyEventsWithResponse(ctx, m.OrgID.ValueString())
		if answered(&resp.Diagnostics, "read key events", st, err) && st.JSON200 != nil {
			m.fill(st.JSON200)
		}
	})
}

// eventPattern is the setup's event pattern as cmekd wrote it (compacted), not as a map would
// write it again.
func eventPattern(body []byte) string {
	var raw struct {
		Setup struct {
			EventPattern json.RawMessage `json:"event_pattern"`
		} `json:"setup"`
	}
	var compact bytes.Buffer
	if json.Unmarshal(body, &raw) != nil || json.Compact(&compact, raw.Setup.EventPattern) != nil {
		return ""
	}
	return compact.String()
}

func (r *keyEvents) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	readBack(ctx, req, resp, "read key events", func(ctx context.Context, m *keyEventsModel) (*client.GetKeyEventsResponse, error) {
		return r.c.GetKeyEventsWithResponse(ctx, m.OrgID.ValueString())
	}, func(_ *keyEventsModel, out *client.GetKeyEventsResponse) bool {
		// Turned off out of band: the resource leaves the state and the plan turns them on again.
		return out.JSON200 == nil || out.JSON200.Configured
	}, func(m *keyEventsModel, out *client.GetKeyEventsResponse) { m.fill(out.JSON200) })
}

// Update only records rotate where state had none (after an import): cmekd is asked nothing.
func (r *keyEvents) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	unchanged(ctx, req, resp, func(plan, state *keyEventsModel) {
		plan.EventsReceived, plan.EventsMatched = state.EventsReceived, state.EventsMatched
		plan.LastEventName, plan.LastEventAt = state.LastEventName, state.LastEventAt
	})
}

func (r *keyEvents) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	remove(ctx, req, resp, "turn key events off", func(ctx context.Context, m *keyEventsModel) (*client.DisableKeyEventsResponse, error) {
		return r.c.DisableKeyEventsWithResponse(ctx, m.OrgID.ValueString())
	})
}

// ImportState takes the organisation's id; the api key and the setup cmekd showed once stay null.
func (r *keyEvents) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("org_id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("api_key_name"), string(client.CmekdEventsKey))...)
}

// fill copies the status cmekd answers; what it showed once is left as it is.
func (m *keyEventsModel) fill(st *client.KeyEventsStatus) {
	m.ID = m.OrgID
	m.Endpoint = types.StringValue(st.Endpoint)
	m.EventsReceived = types.Int64Value(int64(st.EventsReceived))
	m.EventsMatched = types.Int64Value(int64(st.EventsMatched))
	m.LastEventName = types.StringValue(st.LastEventName)
	m.LastEventAt = types.StringNull()
	if st.LastEventAt != nil {
		m.LastEventAt = types.StringValue(timestamp(*st.LastEventAt))
	}
	if st.CreatedAt != nil {
		m.CreatedAt = types.StringValue(timestamp(*st.CreatedAt))
	}
}
