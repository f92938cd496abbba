package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/webhooks"
)

type webhookJSON struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	// Secret signs deliveries; present only in the answer that creates the endpoint.
	Secret string `json:"secret,omitempty"`
}

func toWebhookJSON(w domain.Webhook) webhookJSON {
	return webhookJSON{ID: w.ID, URL: w.URL, Events: w.Events, Status: w.Status, CreatedAt: w.CreatedAt}
}

type deliveryJSON struct {
	ID      string    `json:"id"`
	EventID string    `json:"event_id"`
	Type    string    `json:"type"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	// StatusCode is null when no answer came.
	StatusCode *int   `json:"status_code"`
	LatencyMS  int64  `json:"latency_ms"`
	Error      string `json:"error"`
}

func toDeliveryJSON(d domain.WebhookDelivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, EventID: d.EventID, Type: d.Type, Attempt: d.Attempt, At: d.At,
		LatencyMS: d.Latency.Milliseconds(), Error: d.Error}
	if d.StatusCode != 0 {
		out.StatusCode = &d.StatusCode
	}
	return out
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) {
	var req struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if !a.decoded(w, r, &req) {
		return
	}
	wh, secret, err := a.webhooks.Create(r.Context(), orgOf(r).ID, webhooks.CreateInput{URL: req.URL, Events: req.Events})
	replyOnce(a, w, r, wh, err, func(h domain.Webhook) webhookJSON {
		out := toWebhookJSON(h)
		out.Secret = secret
		return out
	})
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.webhooks.Delete(r.Context(), orgOf(r).ID, chi.URLParam(r, "wh")))
}

func (a *API) testWebhook(w http.ResponseWriter, r *http.Request) {
	id, err := a.webhooks.Test(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "wh"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"event_id": id, "type": domain.EventWebhookTest})
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request) {
	listed(a, w, r, "deliveries", toDeliveryJSON, func(p domain.Page) ([]domain.WebhookDelivery, string, error) {
		return a.webhooks.Deliveries(r.Context(), orgOf(r).ID, chi.URLParam(r, "wh"), p)
	})
}
