// Package documents stores collection documents envelope-encrypted under the organisation's key
// (SPEC §8): data keys come from KMS GenerateDataKey and are stored only wrapped; each document is
// sealed with AES-256-GCM bound to its org, collection and document ids. Losing the key makes the
// data unreadable once cached data keys expire; restoring it makes the data readable again.
package documents

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/envelope"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/store"
)

// Config configures the service.
type Config struct {
	Store *store.Store
	KMS   *kms.Client
	Cache *envelope.Cache
	// ProviderKeyARN wraps the data keys of provider_managed organisations.
	ProviderKeyARN string
	// MaxAge and MaxDocuments bound a data key's use: CMEKD_DEK_MAX_AGE, CMEKD_DEK_MAX_DOCUMENTS.
	MaxAge       time.Duration
	MaxDocuments int
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
	errHalted = domain.Errorf(http.StatusConflict, domain.CodeCollectionIngestHalted,
		"ingestion is halted because the organisation's key is unavailable; restore the key and it resumes within a probe interval")
	errPaused = domain.Errorf(http.StatusConflict, domain.CodeCollectionPaused,
		"the collection is paused because the organisation's key was unavailable for too long; restore the key, then POST …/resume")
	errCorrupt = domain.Errorf(http.StatusInternalServerError, domain.CodeDocumentIntegrity,
		"the stored document failed its integrity check and was not returned")
)

// wrappingKey is the KMS key that wraps an organisation's data keys.
func (s *Service) wrappingKey(org domain.Org) string {
	if org.Mode == domain.ModeCustomerManaged {
		return org.KeyARN
	}
	return s.cfg.ProviderKeyARN
}

func encryptionContext(orgID, collectionID string) map[string]string {
	return map[string]string{"cmekd:org": orgID, "cmekd:collection": collectionID}
}

// kmsError answers a KMS failure: the customer's doing is 409 key_unavailable, an outage 503. A
// customer-caused refusal also makes the monitor probe the key now rather than at its next turn, so
// the organisation's collections halt within seconds of the first refused request.
func (s *Service) kmsError(ctx context.Context, orgID, keyARN string, err error) error {
	var ke *kms.Error
	if !errors.As(err, &ke) {
		return err
	}
	pe := &domain.ProbeError{Code: ke.Code, Action: ke.Action, Message: ke.Message}
	if ke.Transient() || ke.Code == kms.CodeKMSError {
		return health.KMSUnreachable(pe)
	}
	// Best effort: if it fails, the key is still probed within an interval.
	_ = s.cfg.Store.ProbeSoon(context.WithoutCancel(ctx), orgID, keyARN)
	return health.KeyUnavailable(pe)
}

// Ingest seals and stores documents, all or none, in a transaction that also runs save (the
// idempotent answer). Each document must already be a JSON object.
func (s *Service) Ingest(ctx context.Context, org domain.Org, col domain.Collection, docs []json.RawMessage,
	save func(tx *store.Tx, ids []string) error) ([]string, error) {
	if err := refuseIngest(col.State); err != nil {
		return nil, err
	}
	keyARN := s.wrappingKey(org)
	now := s.cfg.Store.Now()
	dk, err := s.cfg.Store.CurrentDataKey(ctx, col.ID, keyARN, now.Add(-s.cfg.MaxAge), len(docs), s.cfg.MaxDocuments)
	switch {
	case err == domain.ErrNotFound:
		if dk, err = s.newDataKey(ctx, org.ID, col.ID, keyARN, now); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	sealed := make([]store.SealedDocument, len(docs))
	ids := make([]string, len(docs))
	err = s.useKey(ctx, dk, func(key []byte) error {
		sealer, err := envelope.NewSealer(key)
		if err != nil {
			return err
		}
		for i, d := range docs {
			ids[i] = domain.NewID("doc")
			nonce, ct, err := sealer.Seal(envelope.AAD{OrgID: org.ID, CollectionID: col.ID, DocumentID: ids[i]}, d)
			if err != nil {
				return err
			}
			sealed[i] = store.SealedDocument{ID: ids[i], OrgID: org.ID, CollectionID: col.ID, DataKeyID: dk.ID,
				Nonce: nonce, Ciphertext: ct, CreatedAt: now}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.cfg.Store.InTx(ctx, func(tx *store.Tx) error {
		// The state is read again under a shared lock: a halt committed meanwhile wins.
		state, err := tx.ShareCollectionState(ctx, org.ID, col.ID)
		if err != nil {
			return err
		}
		if err := refuseIngest(state); err != nil {
			return err
		}
		if err := tx.InsertDocuments(ctx, sealed); err != nil {
			return err
		}
		return save(tx, ids)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
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

// newDataKey makes a data key with KMS, stores it wrapped and caches the plaintext.
func (s *Service) newDataKey(ctx context.Context, orgID, colID, keyARN string, now time.Time) (store.DataKey, error) {
	plain, wrapped, err := s.cfg.KMS.GenerateDataKey(ctx, keyARN, encryptionContext(orgID, colID))
	if err != nil {
		return store.DataKey{}, s.kmsError(ctx, orgID, keyARN, err)
	}
	// The cache keeps a copy of its own; this one is wiped however the function ends.
	defer envelope.Wipe(plain)
	dk := store.DataKey{ID: domain.NewID("dek"), OrgID: orgID, CollectionID: colID, KeyARN: keyARN, Wrapped: wrapped, CreatedAt: now}
	if err := s.cfg.Store.InsertDataKey(ctx, dk); err != nil {
		return dk, err
	}
	s.cfg.Cache.Put(dk.ID, plain)
	return dk, nil
}

// useKey runs fn with the plaintext of a data key, from the cache or unwrapped by KMS Decrypt.
func (s *Service) useKey(ctx context.Context, dk store.DataKey, fn func(key []byte) error) error {
	load := func(ctx context.Context) ([]byte, error) {
		plain, err := s.cfg.KMS.Decrypt(ctx, dk.KeyARN, dk.Wrapped, encryptionContext(dk.OrgID, dk.CollectionID))
		if err != nil {
			return nil, s.kmsError(ctx, dk.OrgID, dk.KeyARN, err)
		}
		return plain, nil
	}
	return s.cfg.Cache.Use(ctx, dk.ID, load, fn)
}

// refuseRead refuses reads of a paused collection.
func refuseRead(state string) error {
	if state == domain.StatePaused {
		return errPaused
	}
	return nil
}

// Get reads and decrypts one document.
func (s *Service) Get(ctx context.Context, col domain.Collection, id string) (Document, error) {
	if err := refuseRead(col.State); err != nil {
		return Document{}, err
	}
	sd, err := s.cfg.Store.Document(ctx, col.OrgID, col.ID, id)
	if err != nil {
		return Document{}, err
	}
	docs, err := s.open(ctx, []store.SealedDocument{sd})
	if err != nil {
		return Document{}, err
	}
	return docs[0], nil
}

// List reads and decrypts a page of documents.
func (s *Service) List(ctx context.Context, col domain.Collection, page store.Page) ([]Document, string, error) {
	if err := refuseRead(col.State); err != nil {
		return nil, "", err
	}
	sealed, next, err := s.cfg.Store.Documents(ctx, col.OrgID, col.ID, page)
	if err != nil {
		return nil, "", err
	}
	docs, err := s.open(ctx, sealed)
	return docs, next, err
}

// open decrypts documents with one data-key fetch and one cache use per data key. A document that
// fails authentication (moved to another row, tampered with) is never returned.
func (s *Service) open(ctx context.Context, sealed []store.SealedDocument) ([]Document, error) {
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
		dk, err := s.cfg.Store.DataKey(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, i := range byKey[id] {
			if dk.OrgID != sealed[i].OrgID || dk.CollectionID != sealed[i].CollectionID {
				return nil, errCorrupt // a row pointed at another collection's key: no need to ask KMS
			}
		}
		err = s.useKey(ctx, dk, func(key []byte) error {
			sealer, err := envelope.NewSealer(key)
			if err != nil {
				return err
			}
			for _, i := range byKey[id] {
				sd := sealed[i]
				plain, err := sealer.Open(envelope.AAD{OrgID: sd.OrgID, CollectionID: sd.CollectionID, DocumentID: sd.ID}, sd.Nonce, sd.Ciphertext)
				if err != nil {
					return errCorrupt
				}
				out[i] = Document{ID: sd.ID, Data: plain, CreatedAt: sd.CreatedAt}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
