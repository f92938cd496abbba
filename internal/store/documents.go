package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

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
	CreatedAt         time.Time
}

// ShareCollectionState reads a collection's state under a shared lock, so that a concurrent state
// change by the monitor waits for this transaction (or this one waits for it).
func (q *Q) ShareCollectionState(ctx context.Context, orgID, id string) (string, error) {
	var state string
	err := q.db.QueryRow(ctx, `SELECT state FROM collections WHERE org_id = $1 AND id = $2 FOR SHARE`, orgID, id).Scan(&state)
	if err := translate(err); errors.Is(err, domain.ErrNotFound) {
		return "", domain.NotFound("collection")
	} else if err != nil {
		return "", err
	}
	return state, nil
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
	if err := translate(err); errors.Is(err, domain.ErrNotFound) {
		return d, domain.NotFound("document")
	} else if err != nil {
		return d, err
	}
	return d, nil
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
