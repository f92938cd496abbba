package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// DataKey is a data key of the keyring as stored: never its plaintext, only a copy wrapped by KMS.
type DataKey struct {
	ID, OrgID string
	// Purpose and OwnerID name what the key seals: the documents of collection OwnerID, say.
	Purpose, OwnerID string
	// KeyARN is the KMS key that wrapped Wrapped.
	KeyARN  string
	Wrapped []byte
	// Uses counts the items sealed under the key, for its rotation bound.
	Uses      int
	CreatedAt time.Time
}

const dataKeySelect = `
SELECT k.id, k.org_id, k.purpose, k.owner_id, w.key_arn, w.wrapped, k.uses, k.created_at
FROM data_keys k JOIN wrapped_keys w ON w.data_key_id = k.id`

func scanDataKey(r pgx.Row) (DataKey, error) {
	var k DataKey
	err := r.Scan(&k.ID, &k.OrgID, &k.Purpose, &k.OwnerID, &k.KeyARN, &k.Wrapped, &k.Uses, &k.CreatedAt)
	k.CreatedAt = k.CreatedAt.UTC()
	return k, translate(err)
}

// CurrentDataKey is the owner's newest data key wrapped by keyARN that is younger than notBefore and
// has room for n more uses under maxUses; ErrNotFound when a new one is due.
func (q *Q) CurrentDataKey(ctx context.Context, purpose, ownerID, keyARN string, notBefore time.Time, n, maxUses int) (DataKey, error) {
	return scanDataKey(q.db.QueryRow(ctx, dataKeySelect+`
WHERE k.purpose = $1 AND k.owner_id = $2 AND w.key_arn = $3 AND k.created_at > $4 AND k.uses + $5 <= $6
ORDER BY k.created_at DESC LIMIT 1`, purpose, ownerID, keyARN, notBefore, n, maxUses))
}

// WrappedDataKey reads one data key with its copy wrapped by keyARN; ErrNotFound when keyARN wraps
// no copy of it.
func (q *Q) WrappedDataKey(ctx context.Context, id, keyARN string) (DataKey, error) {
	return scanDataKey(q.db.QueryRow(ctx, dataKeySelect+` WHERE k.id = $1 AND w.key_arn = $2`, id, keyARN))
}

// InsertDataKey stores a data key with its wrapped copy, in one statement.
func (q *Q) InsertDataKey(ctx context.Context, k DataKey) error {
	_, err := q.db.Exec(ctx, `
WITH k AS (
    INSERT INTO data_keys (id, org_id, purpose, owner_id, uses, created_at) VALUES ($1, $2, $3, $4, $5, $6)
)
INSERT INTO wrapped_keys (data_key_id, key_arn, wrapped, created_at) VALUES ($1, $7, $8, $6)`,
		k.ID, k.OrgID, k.Purpose, k.OwnerID, k.Uses, k.CreatedAt, k.KeyARN, k.Wrapped)
	return translate(err)
}

// DeleteDataKeys destroys every data key of an owner (and with them what they sealed); it returns
// how many it destroyed.
func (q *Q) DeleteDataKeys(ctx context.Context, purpose, ownerID string) (int, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM data_keys WHERE purpose = $1 AND owner_id = $2`, purpose, ownerID)
	if err != nil {
		return 0, translate(err)
	}
	return int(tag.RowsAffected()), nil
}

// AddUses counts n more items sealed under each data key of uses (data key id → n).
func (q *Q) AddUses(ctx context.Context, uses map[string]int) error {
	for id, n := range uses {
		if _, err := q.db.Exec(ctx, `UPDATE data_keys SET uses = uses + $2 WHERE id = $1`, id, n); err != nil {
			return translate(err)
		}
	}
	return nil
}
