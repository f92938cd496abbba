// Package webhooks tells customers of what happens to their keys and collections as it happens:
// endpoints with signing secrets sealed under the platform's key, and a leased dispatcher
// that reads the audit trail after each endpoint's cursor and POSTs every matching event, signed, at
// least once and in order, to a URL the Guard has vetted.
package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyring"
	"github.com/cmekd/cmekd/internal/store"
)

// Config configures the service.
type Config struct {
	Store   *store.Store
	Keyring *keyring.Keyring
	Guard   *Guard
	// ProviderKeyARN is the platform's own key (CMEKD_PROVIDER_KEY_ARN), which seals every secret.
	ProviderKeyARN string
	// MaxPerOrg is the most endpoints an organisation may have (0: no limit).
	MaxPerOrg int
}

// Service runs the webhook endpoint use cases.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// CreateInput is what POST …/webhooks asks for.
type CreateInput struct {
	URL    string
	Events []string
}

// maxFilters bounds an endpoint's event filter.
const maxFilters = 64

// AllEvents is the filter entry that matches every event type.
const AllEvents = "*"

// secretPrefix starts every endpoint secret.
const secretPrefix = "whsec_"

// validEvents checks an event filter: at least one entry, each an event type or "*"; duplicates go,
// and "*" with others is just "*".
func validEvents(in []string) ([]string, error) {
	if len(in) == 0 || len(in) > maxFilters {
		return nil, domain.Invalid("events", "events must list 1 to %d event types, or [\"*\"] for all", maxFilters)
	}
	var out []string
	for _, t := range in {
		if t == AllEvents {
			return []string{AllEvents}, nil
		}
		if !slices.Contains(domain.EventTypes, t) {
			return nil, domain.Invalid("events", "%q is not an event type", t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Create vets the URL, makes the endpoint's secret and stores it sealed under the platform's key. It
// returns the endpoint and its secret, which is never shown again.
func (s *Service) Create(ctx context.Context, orgID string, in CreateInput) (domain.Webhook, string, error) {
	events, err := validEvents(in.Events)
	if err != nil {
		return domain.Webhook{}, "", err
	}
	if err := s.cfg.Guard.Check(ctx, in.URL); err != nil {
		return domain.Webhook{}, "", err
	}
	// A first count, before a data key is made for a webhook that cannot be; the one that holds is
	// in the transaction that stores it.
	if err := s.cfg.Store.WithinLimit(ctx, store.LimitedWebhooks, orgID, s.cfg.MaxPerOrg); err != nil {
		return domain.Webhook{}, "", err
	}
	w := domain.Webhook{ID: domain.NewID("wh"), OrgID: orgID, URL: in.URL, Events: events, Status: domain.WebhookActive}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	secret := secretPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	var sealed store.SealedWebhookSecret
	err = s.cfg.Keyring.Seal(ctx, secretOwner(w.OrgID, w.ID), s.cfg.ProviderKeyARN, 1, func(b *keyring.Box) error {
		var err error
		sealed.KeyID, sealed.AADVersion = b.DataKeyID(), keyring.SealVersion
		sealed.Nonce, sealed.Ciphertext, err = b.Seal(w.ID, []byte(secret))
		return err
	})
	if err != nil {
		return domain.Webhook{}, "", platformKeyError(err)
	}
	err = s.cfg.Store.InTxWithin(ctx, store.LimitedWebhooks, orgID, s.cfg.MaxPerOrg, func(tx *store.Q) error {
		w.CreatedAt = tx.Now()
		return tx.InsertWebhook(ctx, w, sealed)
	})
	if err != nil {
		_, _ = s.cfg.Store.DeleteDataKeys(context.WithoutCancel(ctx), keyring.WebhookSecrets.Name, w.ID) // its secret's, now unused
		return domain.Webhook{}, "", err
	}
	return w, secret, nil
}

func secretOwner(orgID, webhookID string) keyring.Owner {
	return keyring.Owner{Purpose: keyring.WebhookSecrets, OrgID: orgID, ID: webhookID}
}

// platformKeyError keeps a failure of the platform's key from reading as the customer's: the keyring
// calls a refused key key_unavailable, which tells a tenant to fix their key; this one is ours.
func platformKeyError(err error) error {
	if e, ok := domain.AsError(err); ok && e.Code == domain.CodeKeyUnavailable {
		return domain.KMSUnreachableError(nil)
	}
	return err
}

// openSecret unseals an endpoint's secret with a data key wrapped by providerKeyARN, the platform's key.
func openSecret(ctx context.Context, keys *keyring.Keyring, providerKeyARN string, w domain.Webhook, s store.SealedWebhookSecret) (string, error) {
	var secret string
	err := keys.Open(ctx, secretOwner(w.OrgID, w.ID), providerKeyARN, s.KeyID, func(b *keyring.Box) error {
		plain, err := b.Open(w.ID, s.AADVersion, s.Nonce, s.Ciphertext)
		secret = string(plain)
		return err
	})
	return secret, err
}

// List lists the organisation's endpoints, oldest first.
func (s *Service) List(ctx context.Context, orgID string, page domain.Page) ([]domain.Webhook, string, error) {
	return s.cfg.Store.Webhooks(ctx, orgID, page)
}

// Get reads one endpoint.
func (s *Service) Get(ctx context.Context, orgID, id string) (domain.Webhook, error) {
	return s.cfg.Store.Webhook(ctx, orgID, id)
}

// Delete removes an endpoint, its delivery log and the data key of its secret.
func (s *Service) Delete(ctx context.Context, orgID, id string) error {
	return s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		if err := tx.DeleteWebhook(ctx, orgID, id); err != nil {
			return err
		}
		_, err := tx.DeleteDataKeys(ctx, keyring.WebhookSecrets.Name, id)
		return err
	})
}

var errDisabled = domain.Errorf(domain.KindConflict, domain.CodeWebhookDisabled,
	"this webhook is disabled after 24 hours without a successful delivery; create a new one")

// Test writes a webhook.test event for the endpoint into the audit trail; the dispatcher delivers it
// to that endpoint alone, within moments. It returns the event's id.
func (s *Service) Test(ctx context.Context, p domain.Principal, orgID, id string) (string, error) {
	ev := domain.Event{ID: domain.NewID("evt"), OrgID: orgID, Type: domain.EventWebhookTest, Actor: p.Actor(), WebhookID: id}
	err := s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		w, err := tx.LockWebhook(ctx, orgID, id)
		if err != nil {
			return err
		}
		if w.Status != domain.WebhookActive {
			return errDisabled
		}
		return tx.InsertEvent(ctx, ev)
	})
	return ev.ID, err
}

// Deliveries lists an endpoint's delivery attempts, newest first.
func (s *Service) Deliveries(ctx context.Context, orgID, id string, page domain.Page) ([]domain.WebhookDelivery, string, error) {
	if _, err := s.cfg.Store.Webhook(ctx, orgID, id); err != nil {
		return nil, "", err
	}
	return s.cfg.Store.Deliveries(ctx, id, page)
}

// errNoSecret is a secret that could not be unsealed; the dispatcher tries again later.
var errNoSecret = errors.New("webhooks: the endpoint's secret could not be unsealed")
