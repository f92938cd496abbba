package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// DataKey is a collection's wrapped data key.
type DataKey struct {
	ID, OrgID, CollectionID, KeyARN string
	Wrapped                         []byte
	Documents                       int
	CreatedAt                       time.Time
}

// SealedDocument is a document as stored: ciphertext only.
type SealedDocument struct {
	ID, OrgID, CollectionID, DataKeyID string
	Nonce, Ciphertext                  []byte
	CreatedAt                          time.Time
}

const dataKeyColumns = `id, org_id, collection_id, key_arn, wrapped, documents, created_at`

func scanDataKey(r pgx.Row) (DataKey, error) {
	var k DataKey
	err := r.Scan(&k.ID, &k.OrgID, &k.CollectionID, &k.KeyARN, &k.Wrapped, &k.Documents, &k.CreatedAt)
	k.CreatedAt = k.CreatedAt.UTC()
	return k, translate(err)
}

// CurrentDataKey is the newest data key of the collection wrapped by keyARN that is younger than
// notBefore and has room for n more documents under maxDocs; ErrNotFound when a new one is due.
func (s *Store) CurrentDataKey(ctx context.Context, collectionID, keyARN string, notBefore time.Time, n, maxDocs int) (DataKey, error) {
	return scanDataKey(s.pool.QueryRow(ctx, `SELECT `+dataKeyColumns+` FROM data_keys
WHERE collection_id = $1 AND key_arn = $2 AND created_at > $3 AND documents + $4 <= $5
ORDER BY created_at DESC LIMIT 1`, collectionID, keyARN, notBefore, n, maxDocs))
}

// DataKey reads one data key.
func (s *Store) DataKey(ctx context.Context, id string) (DataKey, error) {
	return scanDataKey(s.pool.QueryRow(ctx, `SELECT `+dataKeyColumns+` FROM data_keys WHERE id = $1`, id))
}

// InsertDataKey stores a wrapped data key.
func (s *Store) InsertDataKey(ctx context.Context, k DataKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO data_keys (`+dataKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.OrgID, k.CollectionID, k.KeyARN, k.Wrapped, k.Documents, k.CreatedAt)
	return translate(err)
}

// ShareCollectionState reads a collection's state under a shared lock, so that a concurrent state
// change by the monitor waits for this transaction (or this one waits for it).
func (t *Tx) ShareCollectionState(ctx context.Context, orgID, id string) (string, error) {
	var state string
	err := t.tx.QueryRow(ctx, `SELECT state FROM collections WHERE org_id = $1 AND id = $2 FOR SHARE`, orgID, id).Scan(&state)
	if err := translate(err); err == domain.ErrNotFound {
		return "", domain.NotFound("collection")
	} else if err != nil {
		return "", err
	}
	return state, nil
}

// InsertDocuments stores sealed documents and counts them against their data key.
func (t *Tx) InsertDocuments(ctx context.Context, docs []SealedDocument) error {
	if len(docs) == 0 {
		return nil
	}
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{"documents"},
		[]string{"id", "org_id", "collection_id", "data_key_id", "nonce", "ciphertext", "created_at"},
		pgx.CopyFromSlice(len(docs), func(i int) ([]any, error) {
			d := docs[i]
			return []any{d.ID, d.OrgID, d.CollectionID, d.DataKeyID, d.Nonce, d.Ciphertext, d.CreatedAt}, nil
		}))
	if err != nil {
		return translate(err)
	}
	perKey := map[string]int{}
	for _, d := range docs {
		perKey[d.DataKeyID]++
	}
	for id, n := range perKey {
		if _, err := t.tx.Exec(ctx, `UPDATE data_keys SET documents = documents + $2 WHERE id = $1`, id, n); err != nil {
			return translate(err)
		}
	}
	return nil
}

const documentColumns = `seq, id, org_id, collection_id, data_key_id, nonce, ciphertext, created_at`

type seqDocument struct {
	seq int64
	SealedDocument
}

func scanDocument(r pgx.Row) (seqDocument, error) {
	var d seqDocument
	err := r.Scan(&d.seq, &d.ID, &d.OrgID, &d.CollectionID, &d.DataKeyID, &d.Nonce, &d.Ciphertext, &d.CreatedAt)
	d.CreatedAt = d.CreatedAt.UTC()
	return d, err
}

// Document reads one sealed document of a collection.
func (s *Store) Document(ctx context.Context, orgID, collectionID, id string) (SealedDocument, error) {
	d, err := scanDocument(s.pool.QueryRow(ctx, `SELECT `+documentColumns+` FROM documents WHERE org_id = $1 AND collection_id = $2 AND id = $3`,
		orgID, collectionID, id))
	if err := translate(err); err == domain.ErrNotFound {
		return d.SealedDocument, domain.NotFound("document")
	} else if err != nil {
		return d.SealedDocument, err
	}
	return d.SealedDocument, nil
}

// Documents lists a collection's sealed documents in ingestion order. The ORDER BY names
// collection_id, constant here, so that every plan, generic ones included, walks the
// (collection_id, seq) index rather than all documents in seq order.
func (s *Store) Documents(ctx context.Context, orgID, collectionID string, page Page) ([]SealedDocument, string, error) {
	after, err := page.after()
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+documentColumns+` FROM documents
WHERE org_id = $1 AND collection_id = $2 AND seq > $3 ORDER BY collection_id, seq LIMIT $4`, orgID, collectionID, after.Seq, page.Limit+1)
	if err != nil {
		return nil, "", translate(err)
	}
	docs, err := collect(rows, scanDocument)
	if err != nil {
		return nil, "", err
	}
	docs, next, err := trim(docs, page.Limit, func(d seqDocument) cursor { return cursor{Seq: d.seq} })
	out := make([]SealedDocument, len(docs))
	for i, d := range docs {
		out[i] = d.SealedDocument
	}
	return out, next, err
}
