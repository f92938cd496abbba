package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cmekd/cmekd/internal/domain"
)

// SealedDocument is a document as stored: ciphertext only.
type SealedDocument struct {
	// Seq is the document's position in its collection: later documents have greater ones.
	Seq                                int64
	ID, OrgID, CollectionID, DataKeyID string
	// AADVersion is the keyring AAD version the document was sealed with.
	AADVersion        int
	Nonce, Ciphertext []byte
	// Sealed is Nonce || Ciphertext in one buffer, which Nonce and Ciphertext are slices of, as
	// ReadDocuments and ReadDocument return them: it can be opened in place.
	Sealed    []byte
	CreatedAt time.Time
}

// InsertDocuments stores sealed documents and counts them against their data key.
func (q *Q) InsertDocuments(ctx context.Context, docs []SealedDocument) error {
	if len(docs) == 0 {
		return nil
	}
	_, err := q.db.CopyFrom(ctx, pgx.Identifier{"documents"},
		[]string{"id", "org_id", "collection_id", "data_key_id", "aad_version", "nonce", "ciphertext", "created_at"},
		pgx.CopyFromSlice(len(docs), func(i int) ([]any, error) {
			d := docs[i]
			return []any{d.ID, d.OrgID, d.CollectionID, d.DataKeyID, int16(d.AADVersion), d.Nonce, d.Ciphertext, d.CreatedAt}, nil
		}))
	if err != nil {
		return translate(err)
	}
	uses := map[string]int{}
	for _, d := range docs {
		uses[d.DataKeyID]++
	}
	return q.AddUses(ctx, uses)
}

const documentColumns = `seq, id, org_id, collection_id, data_key_id, aad_version, nonce, ciphertext, created_at`

func scanDocument(r pgx.Row) (SealedDocument, error) {
	var d SealedDocument
	err := r.Scan(&d.Seq, &d.ID, &d.OrgID, &d.CollectionID, &d.DataKeyID, &d.AADVersion, &d.Nonce, &d.Ciphertext, &d.CreatedAt)
	d.CreatedAt = d.CreatedAt.UTC()
	return d, err
}

// Document reads one sealed document of a collection.
func (q *Q) Document(ctx context.Context, orgID, collectionID, id string) (SealedDocument, error) {
	d, err := scanDocument(q.db.QueryRow(ctx, `SELECT `+documentColumns+` FROM documents WHERE org_id = $1 AND collection_id = $2 AND id = $3`,
		orgID, collectionID, id))
	return d, translateMissing(err, "document")
}

// Documents lists a collection's sealed documents in ingestion order. The ORDER BY names
// collection_id, constant here, so that every plan, generic ones included, walks the
// (collection_id, seq) index rather than all documents in seq order.
func (q *Q) Documents(ctx context.Context, orgID, collectionID string, page domain.Page) ([]SealedDocument, string, error) {
	return list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		return `SELECT ` + documentColumns + ` FROM documents
WHERE org_id = $1 AND collection_id = $2 AND seq > $3 ORDER BY collection_id, seq LIMIT $4`, []any{orgID, collectionID, after.Seq, limit}
	}, scanDocument, func(d SealedDocument) cursor { return cursor{Seq: d.Seq} })
}

// readTarget is the first statement of a read: what it needs of the organisation and of the
// collection — the collection's state and region, the organisation's mode and home region, and the
// key linked for that region's data ($3, the data purpose) — and whether the token the read is made
// with ($4; empty for none to check) is still live. An organisation that does not exist gives no row;
// a collection that does not exist, an empty state.
const (
	readTarget        = readTargetColumns + readTargetFrom + ` WHERE o.id = $1`
	readTargetColumns = `
SELECT coalesce(c.state, ''), coalesce(c.region, ''), o.encryption_mode, o.region, coalesce(l.key_arn, ''),
    $4::text = '' OR EXISTS (SELECT 1 FROM tokens t WHERE t.id = $4::text AND t.revoked_at IS NULL)`
	readTargetFrom = `
FROM orgs o
LEFT JOIN collections c ON c.org_id = o.id AND c.id = $2
LEFT JOIN key_links l ON l.org_id = o.id AND l.region = c.region AND l.purpose = $3`
)

// ErrTokenNotLive is a read's answer when the token it was made with has been revoked (or is gone):
// the caller authenticates again, and answers as that does.
var ErrTokenNotLive = errors.New("store: the token of the read is not live")

// CollectionRead is what a read learns of the collection it reads and of its organisation.
type CollectionRead struct {
	State, Region string
	// Org is the organisation as far as a read needs it: its id, mode and home region, and the key
	// linked for the collection's region's data (none for provider_managed).
	Org domain.Org
}

// finish completes a read's target from its row (err the row's scan, translated): a token no longer
// live is ErrTokenNotLive, a missing organisation or collection ErrNotFound naming it.
func (c *CollectionRead) finish(orgID, arn string, live bool, err error) error {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return domain.NotFound("organisation")
	case err != nil:
		return err
	case !live:
		return ErrTokenNotLive
	case c.State == "":
		return domain.NotFound("collection")
	}
	c.Org.ID = orgID
	if arn != "" {
		c.Org.Links = []domain.KeyLink{{OrgID: orgID, Region: c.Region, Purpose: domain.PurposeData, KeyARN: arn}}
	}
	return nil
}

// DocumentStream is a read of a collection's sealed documents as they come from the database: each
// can be opened while the rest are still on their way. Its documents' sealed bytes go one after the
// other into one buffer (the caller's, grown as need be), so that a page costs one buffer rather than
// one a row, and a caller that reuses the buffer allocates none.
//
// It is read from two plain statements sent at once and answered in one round trip, readTarget and
// the documents' select, rather than one that joins them: PostgreSQL plans each simply (and soon
// reuses a generic plan), where a union of the two cost as much again in planning on some
// connections as the page itself.
type DocumentStream struct {
	// Target is what the read needs of the organisation and the collection.
	Target CollectionRead

	orgID, collectionID string
	br                  pgx.BatchResults
	rows                pgx.Rows
	raw                 bool // the sealed columns come in binary format: copied from the row's raw bytes
	limit               int  // the documents Next yields; a row past them only tells that more follow
	buf                 []byte
	starts              []int // where each document's sealed bytes are in buf
	docs                []SealedDocument
	more                bool
	err                 error
	scan                struct {
		d                 SealedDocument
		nonce, ciphertext any
	}
}

// streamDocuments starts a read: it sends readTarget and sql (which selects documentReadColumns with
// $1 the organisation, $2 the collection and then arg), reads the target and readies the documents,
// of which Next yields at most limit (a row past them marks that more follow). A missing organisation
// or collection is ErrNotFound naming it. The caller closes the stream.
func (q *Q) streamDocuments(ctx context.Context, sql, orgID, collectionID, tokenID string, limit int, buf []byte, arg ...any) (*DocumentStream, error) {
	s := &DocumentStream{orgID: orgID, collectionID: collectionID, limit: limit, buf: buf,
		docs: make([]SealedDocument, 0, limit), starts: make([]int, 0, limit)}
	batch := &pgx.Batch{}
	batch.Queue(readTarget, orgID, collectionID, domain.PurposeData, tokenID)
	batch.Queue(sql, append([]any{orgID, collectionID}, arg...)...)
	s.br = q.db.SendBatch(ctx, batch)
	c := &s.Target
	var arn string
	var live bool
	err := s.br.QueryRow().Scan(&c.State, &c.Region, &c.Org.Mode, &c.Org.Region, &arn, &live)
	if err = c.finish(orgID, arn, live, translate(err)); err != nil {
		s.Close()
		return nil, err
	}
	if s.rows, err = s.br.Query(); err != nil {
		s.Close()
		return nil, translate(err)
	}
	fds := s.rows.FieldDescriptions()
	s.raw = len(fds) == documentReadColumnCount && fds[nonceColumn].Format == pgtype.BinaryFormatCode &&
		fds[nonceColumn+1].Format == pgtype.BinaryFormatCode
	// Scanned into once per row and copied out: variables whose addresses go to Scan live on the heap,
	// so declaring them per row would cost allocations every row. Scan skips a nil destination.
	s.scan.nonce, s.scan.ciphertext = &s.scan.d.Nonce, &s.scan.d.Ciphertext
	if s.raw {
		s.scan.nonce, s.scan.ciphertext = nil, nil
	}
	return s, nil
}

// Next reads the next document, false at the end of the page or on an error (Err).
func (s *DocumentStream) Next() bool {
	if s.err != nil || s.rows == nil || !s.rows.Next() {
		return false
	}
	d := &s.scan.d
	*d = SealedDocument{}
	if err := s.rows.Scan(&d.Seq, &d.ID, &d.DataKeyID, &d.AADVersion, s.scan.nonce, s.scan.ciphertext, &d.CreatedAt); err != nil {
		s.err = translate(err)
		return false
	}
	if len(s.docs) == s.limit {
		s.more = true
		return false
	}
	start := len(s.buf)
	if s.raw {
		v := s.rows.RawValues()
		s.buf = append(append(s.buf, v[nonceColumn]...), v[nonceColumn+1]...)
	} else {
		s.buf = append(append(s.buf, d.Nonce...), d.Ciphertext...)
	}
	// Consecutive rows name the same data key: they share its string.
	if n := len(s.docs); n > 0 && s.docs[n-1].DataKeyID == d.DataKeyID {
		d.DataKeyID = s.docs[n-1].DataKeyID
	}
	d.OrgID, d.CollectionID, d.CreatedAt = s.orgID, s.collectionID, d.CreatedAt.UTC()
	s.starts = append(s.starts, start)
	s.docs = append(s.docs, *d)
	s.cut(len(s.docs)-1, len(s.buf))
	return true
}

// cut points document i's Sealed, Nonce and Ciphertext at buf[starts[i]:end].
func (s *DocumentStream) cut(i, end int) {
	d := &s.docs[i]
	b := s.buf[s.starts[i]:end:end]
	d.Sealed, d.Nonce, d.Ciphertext = b, nil, nil
	if len(b) >= nonceSize {
		d.Nonce, d.Ciphertext = b[:nonceSize:nonceSize], b[nonceSize:]
	}
}

// Doc is the document Next read. Its Sealed is a slice of the stream's buffer that holds until the
// next call of Next (the buffer may move as it grows); what is written into it stays, and moves with
// it.
func (s *DocumentStream) Doc() *SealedDocument { return &s.docs[len(s.docs)-1] }

// Buffer is the stream's buffer as it stands (grown, perhaps moved, since the caller's), for a caller
// that lends buffers and must take back, and wipe, the one in use whatever happened.
func (s *DocumentStream) Buffer() []byte { return s.buf }

// Err is what stopped Next early, if anything.
func (s *DocumentStream) Err() error { return s.err }

// Finish reads what is left of the page and closes the stream. It returns the page's documents in
// seq order, each Sealed a slice of buf (which it returns, grown), and the cursor of the next page
// (empty at the end).
func (s *DocumentStream) Finish() (docs []SealedDocument, next string, buf []byte, err error) {
	for s.Next() {
	}
	s.Close()
	if s.err != nil {
		return nil, "", s.buf, s.err
	}
	// The buffer is complete: every document's slices of it are cut again, as it may have moved.
	for i := range s.docs {
		end := len(s.buf)
		if i+1 < len(s.starts) {
			end = s.starts[i+1]
		}
		s.cut(i, end)
	}
	if s.more && len(s.docs) > 0 {
		next = cursor{Seq: s.docs[len(s.docs)-1].Seq}.String()
	}
	return s.docs, next, s.buf, nil
}

// Close ends the read; it is safe to call more than once.
func (s *DocumentStream) Close() {
	if s.rows != nil {
		s.rows.Close()
		if err := s.rows.Err(); err != nil && s.err == nil {
			s.err = translate(err)
		}
		s.rows = nil
	}
	if s.br != nil {
		if err := s.br.Close(); err != nil && s.err == nil {
			s.err = translate(err)
		}
		s.br = nil
	}
}

// documentReadColumns are the columns a read selects of its documents; nonceColumn is where the
// nonce is among them, the ciphertext right after it.
const (
	documentReadColumns     = `seq, id, data_key_id, aad_version, nonce, ciphertext, created_at`
	documentReadColumnCount = 7
	nonceColumn             = 4
)

// nonceSize is the length of a document's nonce (the column's check).
const nonceSize = 12

var (
	readPageSQL = `SELECT ` + documentReadColumns + ` FROM documents
WHERE org_id = $1 AND collection_id = $2 AND seq > $3 ORDER BY collection_id, seq LIMIT $4`
)

// StreamDocuments starts a read, in one round trip, of what a read needs of organisation orgID and its
// collection collectionID, and of a page of that collection's sealed documents in ingestion order,
// appended to buf (which may be nil). The documents are read whatever the state; the caller decides.
// tokenID is the token the read is made with, checked live in the same round trip (ErrTokenNotLive);
// empty when it needs no check.
// The caller closes the stream (Finish does).
func (q *Q) StreamDocuments(ctx context.Context, orgID, collectionID, tokenID string, page domain.Page, buf []byte) (*DocumentStream, error) {
	after, err := decodeCursor(page)
	if err != nil {
		return nil, err
	}
	return q.streamDocuments(ctx, readPageSQL, orgID, collectionID, tokenID, page.Limit, buf, after.Seq, page.Limit+1)
}

// ReadDocuments is StreamDocuments read to its end: the target, the page's documents (each Sealed a
// slice of the returned buffer) and the cursor of the next page (empty at the end).
func (q *Q) ReadDocuments(ctx context.Context, orgID, collectionID, tokenID string, page domain.Page, buf []byte) (CollectionRead, []SealedDocument, string, []byte, error) {
	s, err := q.StreamDocuments(ctx, orgID, collectionID, tokenID, page, buf)
	if err != nil {
		return CollectionRead{}, nil, "", buf, err
	}
	docs, next, buf, err := s.Finish()
	return s.Target, docs, next, buf, err
}

// readOne is readTarget with one document joined ($5): a single row, by primary keys, so one plain
// statement (no pipeline of two) answers a single read. The document's nonce and ciphertext come as
// one value, the buffer they are opened in.
const readOne = readTargetColumns + `,
    coalesce(d.seq, 0), coalesce(d.data_key_id, ''), coalesce(d.aad_version, 0), d.nonce || d.ciphertext, d.created_at` +
	readTargetFrom + `
LEFT JOIN documents d ON d.id = $5 AND d.org_id = o.id AND d.collection_id = c.id
WHERE o.id = $1`

// ReadDocument reads, in one round trip, what a read needs of organisation orgID and its collection
// collectionID, and one of that collection's sealed documents (nil when it has no such document).
// tokenID is as StreamDocuments's.
func (q *Q) ReadDocument(ctx context.Context, orgID, collectionID, id, tokenID string) (CollectionRead, *SealedDocument, error) {
	var (
		t    CollectionRead
		arn  string
		live bool
		d    = &SealedDocument{ID: id, OrgID: orgID, CollectionID: collectionID}
		at   pgtype.Timestamptz
	)
	err := q.db.QueryRow(ctx, readOne, orgID, collectionID, domain.PurposeData, tokenID, id).Scan(
		&t.State, &t.Region, &t.Org.Mode, &t.Org.Region, &arn, &live, &d.Seq, &d.DataKeyID, &d.AADVersion, &d.Sealed, &at)
	if err = t.finish(orgID, arn, live, translate(err)); err != nil {
		return CollectionRead{}, nil, err
	}
	if !at.Valid {
		return t, nil, nil
	}
	d.CreatedAt = at.Time.UTC()
	if len(d.Sealed) >= nonceSize {
		d.Nonce, d.Ciphertext = d.Sealed[:nonceSize:nonceSize], d.Sealed[nonceSize:]
	}
	return t, d, nil
}

// IngestTarget is what an ingest reads before it seals: what it needs of the organisation and the
// collection (as a read does), the collection, its newest data key with room for the ingest (nil when
// there is none) and the stored answer of the request's Idempotency-Key (nil when there is none).
type IngestTarget struct {
	CollectionRead
	Collection domain.Collection
	// DataKey is the newest of the collection's data keys that could still take the ingest and that is
	// wrapped by one of the keys asked for. The caller checks that it is wrapped by the collection's
	// region's key (domain.DataKeyOf) before it seals under it.
	DataKey *DataKey
	Replay  *StoredReplay
}

// DataKeyWant is CurrentDataKey's question, but for the key: the owner's newest data key of Purpose,
// younger than NotBefore, with room for N more uses under MaxUses.
type DataKeyWant struct {
	Purpose, OwnerID string
	NotBefore        time.Time
	N, MaxUses       int
}

// ReadIngestTarget reads, in one statement, what an ingest into collection collectionID of
// organisation orgID needs before it seals: the organisation as a read needs it, the collection, its
// current data key as want asks (wrapped by the key linked for the collection's region's data, or,
// for a provider_managed organisation, by one of platformKeys), and the stored answer (replay nil: the
// request had no Idempotency-Key). A missing organisation is ErrNotFound "organisation"; a missing
// collection, ErrNotFound "collection".
func (q *Q) ReadIngestTarget(ctx context.Context, orgID, collectionID string, want DataKeyWant, platformKeys []string, replay *ReplayKey) (IngestTarget, error) {
	var scope, key *string
	if replay != nil {
		scope, key = &replay.Scope, &replay.Key
	}
	var t IngestTarget
	c := &t.Collection
	var (
		cID, cOrg, cName, cRegion, cState, cReason, arn *string
		cChanged, cAt                                   *time.Time
		cRecoverable                                    *bool
		kID, kOrg, kPurpose, kOwner, kARN               *string
		kWrapped, rHash, rBody                          []byte
		kUses                                           *int
		kAt                                             *time.Time
	)
	err := q.db.QueryRow(ctx, `
SELECT o.encryption_mode, o.region, l.key_arn,
    c.id, c.org_id, c.name, c.region, c.state, c.state_reason, c.state_changed_at, c.recoverable, c.created_at,
    k.id, k.org_id, k.purpose, k.owner_id, k.key_arn, k.wrapped, k.uses, k.created_at, r.request_hash, r.body
FROM orgs o
LEFT JOIN collections c ON c.org_id = o.id AND c.id = $2
LEFT JOIN key_links l ON l.org_id = o.id AND l.region = c.region AND l.purpose = 'data'
LEFT JOIN LATERAL (`+dataKeySelect+`
    WHERE c.id IS NOT NULL AND k.purpose = $3 AND k.owner_id = $4 AND k.created_at > $5 AND k.uses + $6 <= $7
    AND (w.key_arn = l.key_arn OR o.encryption_mode = 'provider_managed' AND w.key_arn = ANY ($11::text[]))
    ORDER BY k.created_at DESC LIMIT 1) k ON true
LEFT JOIN idempotency_keys r ON r.scope = $8::text AND r.key = $9::text AND r.created_at > $10
WHERE o.id = $1`,
		orgID, collectionID, want.Purpose, want.OwnerID, want.NotBefore, want.N, want.MaxUses,
		scope, key, q.Now().Add(-IdempotencyTTL), platformKeys).Scan(
		&t.Org.Mode, &t.Org.Region, &arn,
		&cID, &cOrg, &cName, &cRegion, &cState, &cReason, &cChanged, &cRecoverable, &cAt,
		&kID, &kOrg, &kPurpose, &kOwner, &kARN, &kWrapped, &kUses, &kAt, &rHash, &rBody)
	if err != nil {
		return t, translateMissing(err, "organisation")
	}
	t.Org.ID = orgID
	if cID == nil {
		return t, domain.NotFound("collection")
	}
	*c = domain.Collection{ID: *cID, OrgID: *cOrg, Name: *cName, Region: *cRegion, State: *cState, StateReason: *cReason,
		StateChangedAt: cChanged.UTC(), Recoverable: *cRecoverable, CreatedAt: cAt.UTC()}
	t.State, t.Region = c.State, c.Region
	if arn != nil {
		t.Org.Links = []domain.KeyLink{{OrgID: orgID, Region: c.Region, Purpose: domain.PurposeData, KeyARN: *arn}}
	}
	if kID != nil {
		t.DataKey = &DataKey{ID: *kID, OrgID: *kOrg, Purpose: *kPurpose, OwnerID: *kOwner, KeyARN: *kARN, Wrapped: kWrapped,
			Uses: *kUses, CreatedAt: kAt.UTC()}
	}
	if rHash != nil {
		t.Replay = &StoredReplay{RequestHash: rHash, Replay: Replay{Body: rBody}}
	}
	return t, nil
}
