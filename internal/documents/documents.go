// Package documents is the use-case service of collection documents (SPEC §5, §8): ingestion, all or
// none, sealed under the collection's data keys from the keyring, and reads that open them again.
// Losing the key makes the data unreadable (at once when cmekd learns of it, else once cached data keys
// expire); restoring it makes the data readable again.
package documents

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/cmekd/cmekd/internal/bufpool"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/envelope"
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

// wrappingKey is the KMS key that wraps the data keys of org's collections in region
// (domain.DataKeyOf).
func (s *Service) wrappingKey(org domain.Org, region string) string {
	return domain.DataKeyOf(org, region, s.cfg.ProviderKeys)
}

func owner(col domain.Collection) keyring.Owner {
	return keyring.Owner{Purpose: keyring.Documents, OrgID: col.OrgID, ID: col.ID}
}

// Limits of one ingest: how many documents it takes, and how large each may be as sent.
const (
	MaxDocuments    = 1000
	MaxDocumentSize = 256 << 10
)

// TooMany is the refusal of an ingest of n documents, n outside 1 to MaxDocuments.
func TooMany(n int) error {
	if n == 0 {
		return domain.Invalid("documents", "documents must hold at least one JSON object")
	}
	return domain.Invalid("documents", "documents holds %d items; at most %d are taken at once", n, MaxDocuments)
}

// TooLarge is the refusal of an ingest whose document i has size bytes as sent, over MaxDocumentSize.
func TooLarge(i, size int) error {
	e := domain.Errorf(domain.KindTooLarge, domain.CodePayloadTooLarge,
		"documents[%d] has %d bytes; a document may have at most %d", i, size, MaxDocumentSize)
	e.Details = map[string]any{"field": "documents", "index": i}
	return e
}

// Ingested is the result of an ingest: the new documents' ids, in the order they were sent. It is
// what a retry under the same Idempotency-Key gets again.
type Ingested struct {
	IDs []string `json:"ids"`
}

// Ingest seals and stores docs (each a compacted JSON object) in collection colID of organisation
// orgID, all or none, in one transaction with the idempotent result. A retry under the same
// Idempotency-Key gets the first result and stores nothing.
func (s *Service) Ingest(ctx context.Context, orgID, colID string, docs []json.RawMessage, key idempotency.Key) (Ingested, error) {
	return s.BeginIngest(ctx, orgID, colID, key.Lookup()).Ingest(docs, key)
}

// PendingIngest is an ingest begun: the database is asked for its target (the organisation, the
// collection, its newest data key and any stored result) while the caller reads and parses the
// request, so that the two overlap. The caller ends it with Ingest or Refuse.
type PendingIngest struct {
	s            *Service
	ctx          context.Context
	orgID, colID string
	want         store.DataKeyWant
	got          chan ingestTarget
}

type ingestTarget struct {
	target store.IngestTarget
	err    error
}

// BeginIngest starts an ingest into collection colID of organisation orgID; replay names the
// request's stored result (nil: it has no Idempotency-Key).
//
// An ingest asks the database twice: once for the organisation, the collection, its newest data
// key and any stored result, and once for the write, a single statement that reads the state again
// under a shared lock (a halt committed meanwhile wins) and stores the documents, their count and
// the result.
func (s *Service) BeginIngest(ctx context.Context, orgID, colID string, replay *store.ReplayKey) *PendingIngest {
	o := keyring.Owner{Purpose: keyring.Documents, OrgID: orgID, ID: colID}
	// The key is asked for with room for one document, as the count is not known yet; whether it has
	// room for all of them is checked by Ingest.
	p := &PendingIngest{s: s, ctx: ctx, orgID: orgID, colID: colID, want: s.cfg.Keyring.Want(o, 1), got: make(chan ingestTarget, 1)}
	go func() {
		t, err := s.cfg.Store.ReadIngestTarget(ctx, orgID, colID, p.want, []string(s.cfg.ProviderKeys), replay)
		p.got <- ingestTarget{t, err}
	}()
	return p
}

// Refuse ends an ingest whose request the caller found wrong (invalid): a missing organisation is
// answered before anything wrong with the request, as on every organisation route.
func (p *PendingIngest) Refuse(invalid error) error {
	if r := <-p.got; errors.Is(r.err, domain.ErrNotFound) && r.target.Org.ID == "" {
		return r.err
	}
	return invalid
}

// Ingest ends the ingest with the request's documents (each a compacted JSON object, at most
// MaxDocumentSize bytes as sent) and its Idempotency-Key.
func (p *PendingIngest) Ingest(docs []json.RawMessage, key idempotency.Key) (Ingested, error) {
	s, ctx := p.s, p.ctx
	r := <-p.got
	target, err := r.target, r.err
	if err == nil && (len(docs) == 0 || len(docs) > MaxDocuments) {
		err = TooMany(len(docs))
	}
	if err != nil {
		return Ingested{}, err
	}
	if prev, err := s.cfg.Idempotency.Found(key, target.Replay); err != nil || prev != nil {
		return decodeIngested(prev, err)
	}
	org, col := target.Org, target.Collection
	// The statement narrows the data key to those its organisation's keys could wrap; this is the rule.
	// A key without room for the whole batch is not used: a new one is made.
	if dk := target.DataKey; dk != nil && (dk.KeyARN != s.wrappingKey(org, col.Region) || dk.Uses+len(docs) > p.want.MaxUses) {
		target.DataKey = nil
	}
	if err := refuseIngest(col.State); err != nil {
		return Ingested{}, err
	}
	w := store.IngestWrite{OrgID: org.ID, CollectionID: col.ID, AADVersion: keyring.SealVersion, CreatedAt: s.cfg.Store.Now(),
		IDs: make([]string, len(docs))}
	for i := range w.IDs {
		w.IDs[i] = domain.NewID("doc")
	}
	result := Ingested{IDs: w.IDs}
	if w.Replay, err = key.Record(result); err != nil {
		return Ingested{}, err
	}
	state, stored, err := s.write(ctx, org, col, target.DataKey, docs, w)
	if err != nil {
		return Ingested{}, err
	}
	if err := refuseIngest(state); err != nil {
		return Ingested{}, err
	}
	if !stored {
		// A concurrent request under the same key committed first: its result is the result.
		return decodeIngested(s.cfg.Idempotency.Winner(ctx, key))
	}
	return result, nil
}

func decodeIngested(prev []byte, err error) (Ingested, error) {
	if err != nil {
		return Ingested{}, err
	}
	return idempotency.Decode[Ingested](prev)
}

// sealAheadBytes is the largest batch sealed before its write asks for a database connection: a
// larger one is sealed as the write sends it, document by document, straight into the connection's
// next chunk, so that it is never held sealed as a whole. A small batch sealed ahead holds the
// connection no longer than the write itself.
const sealAheadBytes = 1 << 20

// sealSlack is room a batch buffer keeps past its last document, where each seal encodes its
// additional data (the ids and the key's ARN) rather than allocating it.
const sealSlack = 4 << 10

// write seals the documents under the data key dk (a new one when nil) and stores them with w.
func (s *Service) write(ctx context.Context, org domain.Org, col domain.Collection, dk *store.DataKey, docs []json.RawMessage,
	w store.IngestWrite) (state string, stored bool, err error) {
	size := 0
	for _, d := range docs {
		size += envelope.SealedSize(len(d))
	}
	buf := batches.Get()
	defer batches.Put(buf)
	err = s.cfg.Keyring.SealWith(ctx, owner(col), s.wrappingKey(org, col.Region), dk, func(box *keyring.Box) error {
		w.DataKeyID = box.DataKeyID()
		seal := func(i int, dst []byte) ([]byte, error) {
			_, _, out, err := box.SealAppend(dst, w.IDs[i], docs[i])
			return out, err
		}
		if size > sealAheadBytes {
			w.Seal = seal
		} else if err := sealAhead(&w, buf, size, seal); err != nil {
			return err
		}
		var err error
		state, stored, err = s.cfg.Store.WriteIngest(ctx, w, refusedIngest)
		return err
	})
	return state, stored, err
}

// sealAhead seals every document of w into buf, sized for all of them, one after the other.
func sealAhead(w *store.IngestWrite, buf *[]byte, size int, seal func(int, []byte) ([]byte, error)) error {
	// With room past the last document for the additional data a seal encodes there (sealSlack).
	*buf = slices.Grow((*buf)[:0], size+sealSlack)
	w.Ends = make([]int32, len(w.IDs))
	for i := range w.IDs {
		grown, err := seal(i, *buf)
		if err != nil {
			return err
		}
		*buf, w.Ends[i] = grown, int32(len(grown))
	}
	w.Sealed = *buf
	return nil
}

// refusedIngest are the states refuseIngest refuses.
var refusedIngest = []string{domain.StateIngestHalted, domain.StatePaused}

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

// Get reads and decrypts one document of organisation orgID, asking the database once for what it
// needs of the organisation, the collection's state and the document together (and once more, with KMS, when
// its data key is not cached: the key's binding to the collection is checked then).
func (s *Service) Get(ctx context.Context, orgID, colID, id string) (Document, error) {
	return s.GetChecked(ctx, "", orgID, colID, id)
}

// GetChecked is Get made with token tokenID, which the same statement checks is still live
// (store.ErrTokenNotLive when it is not); "" checks none.
func (s *Service) GetChecked(ctx context.Context, tokenID, orgID, colID, id string) (Document, error) {
	col, sd, err := s.cfg.Store.ReadDocument(ctx, orgID, colID, id, tokenID)
	if err != nil {
		return Document{}, err
	}
	if err := refuseRead(col.State); err != nil {
		return Document{}, err
	}
	if sd == nil {
		return Document{}, domain.NotFound("document")
	}
	docs, err := s.open(ctx, col.Org, colID, s.wrappingKey(col.Org, col.Region), []store.SealedDocument{*sd})
	if err != nil {
		return Document{}, err
	}
	return docs[0], nil
}

// Page is a page of decrypted documents in ingestion order, and the cursor of the next page (empty
// at the end). Its documents' data lives in one buffer borrowed from a pool: Release wipes it and
// gives it back once the page has been used, and the page's data must not be used after.
type Page struct {
	Docs []Document
	Next string
	buf  *[]byte
}

// Release wipes the page's buffer and returns it to the pool. It is safe to call more than once.
func (p *Page) Release() {
	if p == nil || p.buf == nil {
		return
	}
	pages.Put(p.buf)
	p.buf, p.Docs = nil, nil
}

// Buffers of pages read and of batches sealed ahead; a buffer past the bound (a page of unusually
// large documents) goes to the collector.
var (
	pages   = bufpool.New(1 << 20)
	batches = bufpool.New(sealAheadBytes + 64<<10)
)

// List is ListEach into a Page of its own (its documents copied into the page's buffer). The caller
// releases the page.
func (s *Service) List(ctx context.Context, orgID, colID string, page domain.Page) (*Page, error) {
	p := &Page{buf: pages.Get()}
	type span struct{ from, to int }
	var spans []span
	next, err := s.ListEach(ctx, "", orgID, colID, page, func(d Document) {
		from := len(*p.buf)
		*p.buf = append(*p.buf, d.Data...)
		spans = append(spans, span{from, len(*p.buf)})
		p.Docs = append(p.Docs, d)
	})
	if err != nil {
		p.Release()
		return nil, err
	}
	for i, sp := range spans { // the buffer is complete: cut each document's data from it
		p.Docs[i].Data = (*p.buf)[sp.from:sp.to:sp.to]
	}
	p.Next = next
	return p, nil
}

// ListEach reads and decrypts a page of documents of organisation orgID, in ingestion order, asking
// the database once (and once more per data key, with KMS, that is not cached), and hands each
// document to emit in order; it returns the cursor of the next page (empty at the end). A document's
// data is valid only during its call of emit: it lives in a buffer that is wiped once the page is
// done. On an error the documents emitted so far are not the page and must not be answered.
//
// Documents under a data key the cache holds are opened, and emitted, as they come off the
// connection, while the rest of the page is still on its way; the first one under a key it does not
// hold ends that: the page is read to its end and the connection let go before that key is loaded
// (which may need another connection), and the rest are opened then. tokenID is as GetChecked's.
func (s *Service) ListEach(ctx context.Context, tokenID, orgID, colID string, page domain.Page, emit func(Document)) (string, error) {
	buf := pages.Get()
	defer pages.Put(buf)
	rows, err := s.cfg.Store.StreamDocuments(ctx, orgID, colID, tokenID, page, *buf)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	// Whatever happens, the buffer in use (which holds opened documents) is the one wiped and lent again.
	defer func() { *buf = rows.Buffer() }()
	col := rows.Target
	if err := refuseRead(col.State); err != nil {
		return "", err
	}
	o := keyring.Owner{Purpose: keyring.Documents, OrgID: orgID, ID: colID}
	wrapping := s.wrappingKey(col.Org, col.Region)
	opened := 0
	more := rows.Next()
	for more {
		id := rows.Doc().DataKeyID
		hit, err := s.cfg.Keyring.OpenIfCached(o, wrapping, id, func(box *keyring.Box) error {
			for ; more && rows.Doc().DataKeyID == id; more = rows.Next() {
				d := rows.Doc()
				pt, err := box.OpenSealed(d.ID, d.AADVersion, d.Sealed)
				if err != nil {
					return err
				}
				emit(Document{ID: d.ID, Data: pt, CreatedAt: d.CreatedAt})
				opened++
			}
			return nil
		})
		if errors.Is(err, keyring.ErrIntegrity) {
			return "", errCorrupt
		}
		if err != nil {
			return "", err
		}
		if !hit {
			break
		}
	}
	sealed, next, _, err := rows.Finish()
	if err != nil {
		return "", err
	}
	rest, err := s.open(ctx, col.Org, colID, wrapping, sealed[opened:])
	if err != nil {
		return "", err
	}
	for _, d := range rest {
		emit(d)
	}
	return next, nil
}

// open decrypts documents of collection colID with one keyring use per data key, each unwrapped only
// by wrapping, the key of the collection's region. A document that fails authentication (moved to
// another row, tampered with, or naming a data key that key does not wrap or that is not its
// collection's) is never returned.
func (s *Service) open(ctx context.Context, org domain.Org, colID, wrapping string, sealed []store.SealedDocument) ([]Document, error) {
	out := make([]Document, len(sealed))
	o := keyring.Owner{Purpose: keyring.Documents, OrgID: org.ID, ID: colID}
	for start := 0; start < len(sealed); {
		// Documents come in runs of one data key (a page is usually a single run): one use per run.
		id := sealed[start].DataKeyID
		end := start + 1
		for end < len(sealed) && sealed[end].DataKeyID == id {
			end++
		}
		err := s.cfg.Keyring.OpenCached(ctx, o, wrapping, id, func(box *keyring.Box) error {
			for i := start; i < end; i++ {
				sd := sealed[i]
				plain, err := box.OpenSealed(sd.ID, sd.AADVersion, sd.Sealed)
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
		start = end
	}
	return out, nil
}
