package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cmekd/cmekd/client"
)

// webhookCommands are the rows of webhooks and their deliveries (SPEC §14); every one is the owner's.
var webhookCommands = []command{
	{name: "webhooks", orgScoped: true, summary: "list the organisation's webhooks (owner)",
		help: `Lists the organisation's webhook endpoints: their URLs, the event types they receive and whether
they are active or disabled (after 24 hours without a successful delivery). Secrets are never shown.`,
		setup: noFlags(pagedList(func(ctx context.Context, e *env, _ []string, cursor *string, limit *int) (*client.ListWebhooksResponse, error) {
			return e.api.ListWebhooksWithResponse(ctx, e.org, &client.ListWebhooksParams{Cursor: cursor, Limit: limit})
		}, func(r *client.ListWebhooksResponse) ([]client.Webhook, string) {
			return r.JSON200.Webhooks, r.JSON200.NextCursor
		},
			func(e *env, all []client.Webhook) { e.webhooks(client.WebhookList{Webhooks: all}, "") }))},
	{name: "webhooks create", orgScoped: true, summary: "create a webhook and print its signing secret, once (owner)",
		help: `Creates a webhook endpoint that receives every event of the types --events names (comma-separated
or repeated; * for all) as a signed POST to --url, which must be https to a public address unless
the server's CMEKD_WEBHOOK_HTTP_HOSTS names its host. Prints the signing secret (whsec_…): this is
the only time it is shown. Deliveries carry Cmekd-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
"<t>.<body>" keyed with the whole secret>.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			url := fs.String("url", "", "where deliveries are POSTed (`URL`, required)")
			var events multi
			fs.Var(&events, "events", "event `TYPES`, comma-separated or repeated, e.g. key.unavailable,key.restored; * for all (required)")
			return func(ctx context.Context, e *env, _ []string) error {
				var types []string
				for _, ev := range events {
					for t := range strings.SplitSeq(ev, ",") {
						if t = strings.TrimSpace(t); t != "" {
							types = append(types, t)
						}
					}
				}
				if *url == "" || len(types) == 0 {
					return errors.New("--url and --events are required")
				}
				r, err := e.api.CreateWebhookWithResponse(ctx, e.org, client.WebhookCreate{Url: *url, Events: types})
				if err := e.answer(r, err); err != nil {
					return err
				}
				w := r.JSON201
				e.print(w, []string{w.Id}, func(tw *tabwriter.Writer) {
					webhookTable(tw, []client.Webhook{{Id: w.Id, Url: w.Url, Events: w.Events, Status: client.WebhookStatus(w.Status), CreatedAt: w.CreatedAt}}, w.Secret)
				})
				return nil
			}
		}},
	{name: "webhooks get", args: []string{"WEBHOOK_ID"}, orgScoped: true, summary: "show one webhook (owner)",
		help: `Shows the webhook WEBHOOK_ID (wh_…): its URL, event types and status.`,
		setup: noFlags(request(func(ctx context.Context, e *env, args []string) (*client.GetWebhookResponse, error) {
			return e.api.GetWebhookWithResponse(ctx, e.org, args[0])
		}, func(e *env, r *client.GetWebhookResponse) error {
			e.webhooks(client.WebhookList{Webhooks: []client.Webhook{*r.JSON200}}, "")
			return nil
		}))},
	{name: "webhooks delete", args: []string{"WEBHOOK_ID"}, orgScoped: true, summary: "delete a webhook; nothing more is delivered to it (owner)",
		help: `Deletes the webhook WEBHOOK_ID (wh_…) with its delivery history.`,
		setup: noFlags(func(ctx context.Context, e *env, args []string) error {
			r, err := e.api.DeleteWebhookWithResponse(ctx, e.org, args[0])
			return done(e, "deleted "+args[0], e.answer(r, err))
		})},
	{name: "webhooks test", args: []string{"WEBHOOK_ID"}, orgScoped: true, summary: "send a webhook.test delivery now (owner)",
		help: `Sends a webhook.test event to the webhook WEBHOOK_ID (and to no other endpoint) and prints its
event id; cmekctl webhooks deliveries WEBHOOK_ID shows how the attempt went.`,
		setup: noFlags(request(func(ctx context.Context, e *env, args []string) (*client.TestWebhookResponse, error) {
			return e.api.TestWebhookWithResponse(ctx, e.org, args[0])
		}, func(e *env, r *client.TestWebhookResponse) error {
			t := r.JSON202
			e.print(t, []string{t.EventId}, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "EVENT\tTYPE")
				fmt.Fprintf(tw, "%s\t%s\n", t.EventId, t.Type)
			})
			return nil
		}))},
	{name: "webhooks deliveries", args: []string{"WEBHOOK_ID"}, orgScoped: true, summary: "show every delivery attempt of a webhook (owner)",
		help: `Shows every delivery attempt to the webhook WEBHOOK_ID: when, which event, the attempt number, the
receiver's HTTP status (- when no answer came), the latency and the error.`,
		setup: noFlags(pagedList(func(ctx context.Context, e *env, args []string, cursor *string, limit *int) (*client.ListWebhookDeliveriesResponse, error) {
			return e.api.ListWebhookDeliveriesWithResponse(ctx, e.org, args[0], &client.ListWebhookDeliveriesParams{Cursor: cursor, Limit: limit})
		}, func(r *client.ListWebhookDeliveriesResponse) ([]client.WebhookDelivery, string) {
			return r.JSON200.Deliveries, r.JSON200.NextCursor
		},
			func(e *env, all []client.WebhookDelivery) {
				head := "AT\tEVENT\tTYPE\tATTEMPT\tSTATUS\tLATENCY\tERROR"
				list(e, client.WebhookDeliveryList{Deliveries: all}, all, head, func(d client.WebhookDelivery) (string, []any) {
					status := "-"
					if d.StatusCode != nil {
						status = strconv.Itoa(*d.StatusCode)
					}
					return d.Id, []any{stamp(d.At), d.EventId, d.Type, d.Attempt, status, strconv.Itoa(d.LatencyMs) + "ms", dash(d.Error)}
				})
			}))},
}

// webhooks prints endpoints; secret, when given, is the one a create answered.
func (e *env) webhooks(l client.WebhookList, secret string) {
	ids := make([]string, len(l.Webhooks))
	for i, w := range l.Webhooks {
		ids[i] = w.Id
	}
	e.print(l, ids, func(tw *tabwriter.Writer) { webhookTable(tw, l.Webhooks, secret) })
}

// webhookTable draws endpoints, with a column for the secret when one is given.
func webhookTable(tw *tabwriter.Writer, hooks []client.Webhook, secret string) {
	head := "ID\tURL\tEVENTS\tSTATUS\tCREATED"
	if secret != "" {
		head += "\tSECRET (shown once)"
	}
	fmt.Fprintln(tw, head)
	for _, w := range hooks {
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", w.Id, w.Url, strings.Join(w.Events, ","), w.Status, stamp(w.CreatedAt))
		if secret != "" {
			row += "\t" + secret
		}
		fmt.Fprintln(tw, row)
	}
}
