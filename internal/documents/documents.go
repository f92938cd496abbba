// Package documents is the use-case service of collection documents (SPEC §5, §8): ingestion, all or
// none, sealed under the collection's data keys from the keyring, and reads that open them again.
// Losing the key makes the data unreadable (at once when cmekd learns of it, else once cached data keys
// expire); restoring it makes the data readable again.
package documents

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/idempotency"
	"github.com/cmekd/cmekd/internal/keyring"
	"github.com/cmekd/cmekd/internal/store"
)

// Config configures the service.
type Config struct {
	Store       *store.Store
	Keyring     *keyring.Keyring
	Idempotency *idempotency.Keeper
	// ProviderKeys wrap the data keys of provider_managed organisations, each region's its own.
	ProviderKeys domain.ProviderKeys
}

// Service ingests and reads documents.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// Document is a decrypted document.
type Document struct {
	ID        string
	Data      json.RawMessage
	CreatedAt time.Time
}

// Refusals by collection state (SPEC §5).
var (
	errHalted = domain.Errorf(domain.KindConflict, domain.CodeCollectionIngestHalted,
		"ingestion is halted because the organisation's key is unavailable; restore the key and it resumes within a probe interval")
	errPaused = domain.Errorf(domain.KindConflict, domain.CodeCollectionPaused,
		"the collection is paused because the organisation's key was unavailable for too long; restore the key, then POST …/resume")
	errCorrupt = domain.Errorf(domain.KindInternal, domain.CodeDocumentIntegrity,
		"the stored document failed its integrity check and was not returned")
)

// wrappingKey is the KMS key that wraps the data keys of a collection: its region's data key, or the
// platform's key of that region for provider_managed organisations (SPEC §11; its default key in
// their home region). "" when there is none, which seals and opens nothing.
func (s *Service) wrappingKey(org domain.Org, region string) string {
	if org.Mode == domain.ModeCustomerManaged {
		arn, _ := org.LinkedKey(region, domain.PurposeData)
		return arn
	}
	return s.cfg.ProviderKeys.Wrapping(org.Region, region)
}

func owner(col domain.Collection) keyring.Owner {
	return keyring.Owner{Purpose: keyring.Documents, OrgID: col.OrgID, ID: col.ID}
}

// Ingest seals and stores documents in collection colID, all or none, in one transaction with the
// idempotent answer, which render encodes from the new ids. Each document must already be a JSON
// object. A retry under the same Idempotency-Key gets the first answer and stores nothing.
func (s *Service) Ingest(ctx context.Context, org domain.Org, colID string, docs []json.RawMessage, key idempotency.Key,
	render func(ids []string) ([]byte, error)) (idempotency.Answer, error) {
	col, err := s.cfg.Store.Collection(ctx, org.ID, colID)
	if err != nil {
		return idempotency.Answer{}, err
	}
	if replay, err := s.cfg.Idempotency.Replayed(ctx, key); err != nil || replay != nil {
		if replay == nil {
			return idempotency.Answer{}, err
		}
		return *replay, nil
	}
	if err := refuseIngest(col.State); err != nil {
		return idempotency.Answer{}, err
	}
	now := s.cfg.Store.Now()
	sealed := make([]store.SealedDocument, len(docs))
	ids := make([]string, len(docs))
	err = s.cfg.Keyring.Seal(ctx, owner(col), s.wrappingKey(org, col.Region), len(docs), func(box *keyring.Box) error {
		for i, d := range docs {
			ids[i] = domain.NewID("doc")
			nonce, ct, err := box.Seal(ids[i], d)
			if err != nil {
				return err
			}
			sealed[i] = store.SealedDocument{ID: ids[i], OrgID: org.ID, CollectionID: col.ID, DataKeyID: box.DataKeyID(),
				AADVersion: keyring.SealVersion, Nonce: nonce, Ciphertext: ct, CreatedAt: now}
		}
		return nil
	})
	if err != nil {
		return idempotency.Answer{}, err
	}
	a, _, err := s.cfg.Idempotency.Do(ctx, key, func(tx *store.Q) ([]byte, error) {
		// The state is read again under a shared lock: a halt committed meanwhile wins.
		state, err := tx.ShareCollectionState(ctx, org.ID, col.ID)
		if err != nil {
			return nil, err
		}
		if err := refuseIngest(state); err != nil {
			return nil, err
		}
		if err := tx.InsertDocuments(ctx, sealed); err != nil {
			return nil, err
		}
		return render(ids)
	})
	return a, err
}

func refuseIngest(state string) error {
	switch state {
	case domain.StateIngestHalted:
		return errHalted
	case domain.StatePaused:
		return errPaused
	}
	return nil
}

// refuseRead refuses reads of a paused collection.
func refuseRead(state string) error {
	if state == domain.StatePaused {
		return errPaused
	}
	return nil
}

// readable is the collection colID when its documents may be read.
func (s *Service) readable(ctx context.Context, orgID, colID string) (domain.Collection, error) {
	col, err := s.cfg.Store.Collection(ctx, orgID, colID)
	if err != nil {
		return col, err
	}
	return col, refuseRead(col.State)
}

// Get reads and decrypts one document of org.
func (s *Service) Get(ctx context.Context, org domain.Org, colID, id string) (Document, error) {
	col, err := s.readable(ctx, org.ID, colID)
	if err != nil {
		return Document{}, err
	}
	sd, err := s.cfg.Store.Document(ctx, col.OrgID, col.ID, id)
	if err != nil {
		return Document{}, err
	}
	docs, err := s.open(ctx, org, col, []store.SealedDocument{sd})
	if err != nil {
		return Document{}, err
	}
	return docs[0], nil
}

// List reads and decrypts a page of documents of org, in ingestion order.
func (s *Service) List(ctx context.Context, org domain.Org, colID string, page domain.Page) ([]Document, string, error) {
	col, err := s.readable(ctx, org.ID, colID)
	if err != nil {
		return nil, "", err
	}
	sealed, next, err := s.cfg.Store.Documents(ctx, col.OrgID, col.ID, page)
	if err != nil {
		return nil, "", err
	}
	docs, err := s.open(ctx, org, col, sealed)
	return docs, next, err
}

// open decrypts documents with one keyring use per data key, each unwrapped only by org's wrapping
// key. A document that fails authentication (moved to another row, tampered with, or naming a data
// key that key does not wrap) is never returned.
func (s *Service) open(ctx context.Context, org domain.Org, col domain.Collection, sealed []store.SealedDocument) ([]Document, error) {
	out := make([]Document, len(sealed))
	byKey := map[string][]int{} // data key id → indexes of its documents in sealed
	var order []string
	for i, sd := range sealed {
		if _, ok := byKey[sd.DataKeyID]; !ok {
			order = append(order, sd.DataKeyID)
		}
		byKey[sd.DataKeyID] = append(byKey[sd.DataKeyID], i)
	}
	for _, id := range order {
		err := s.cfg.Keyring.Open(ctx, owner(col), s.wrappingKey(org, col.Region), id, func(box *keyring.Box) error {
			for _, i := range byKey[id] {
				sd := sealed[i]
				plain, err := box.Open(sd.ID, sd.AADVersion, sd.Nonce, sd.Ciphertext)
				if err != nil {
					return err
				}
				out[i] = Document{ID: sd.ID, Data: plain, CreatedAt: sd.CreatedAt}
			}
			return nil
		})
		if errors.Is(err, keyring.ErrIntegrity) {
			return nil, errCorrupt
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
