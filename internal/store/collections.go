package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

const collectionColumns = `id, org_id, name, region, state, state_reason, state_changed_at, recoverable, created_at`

func scanCollection(r pgx.Row) (domain.Collection, error) {
	var c domain.Collection
	err := r.Scan(&c.ID, &c.OrgID, &c.Name, &c.Region, &c.State, &c.StateReason, &c.StateChangedAt, &c.Recoverable, &c.CreatedAt)
	c.StateChangedAt, c.CreatedAt = c.StateChangedAt.UTC(), c.CreatedAt.UTC()
	return c, translateMissing(err, "collection")
}

// InsertCollection stores a new collection.
func (q *Q) InsertCollection(ctx context.Context, c domain.Collection) error {
	_, err := q.db.Exec(ctx, `INSERT INTO collections (`+collectionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.ID, c.OrgID, c.Name, c.Region, c.State, c.StateReason, c.StateChangedAt, c.Recoverable, c.CreatedAt)
	return translate(err)
}

// Collection reads one collection of an organisation.
func (q *Q) Collection(ctx context.Context, orgID, id string) (domain.Collection, error) {
	return scanCollection(q.db.QueryRow(ctx, `SELECT `+collectionColumns+` FROM collections WHERE org_id = $1 AND id = $2`, orgID, id))
}

// LockCollection reads one collection of an organisation and locks it for the transaction.
func (q *Q) LockCollection(ctx context.Context, orgID, id string) (domain.Collection, error) {
	return scanCollection(q.db.QueryRow(ctx, `SELECT `+collectionColumns+` FROM collections WHERE org_id = $1 AND id = $2 FOR UPDATE`, orgID, id))
}

// Collections lists an organisation's collections, oldest first.
func (q *Q) Collections(ctx context.Context, orgID string, page domain.Page) ([]domain.Collection, string, error) {
	return list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		return `SELECT ` + collectionColumns + ` FROM collections
WHERE org_id = $1 AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $4`, []any{orgID, after.At, after.ID, limit}
	}, scanCollection, func(c domain.Collection) cursor { return cursor{At: c.CreatedAt, ID: c.ID} })
}

// LockCollectionsIn locks and returns the organisation's collections in a region, for a state change.
func (q *Q) LockCollectionsIn(ctx context.Context, orgID, region string) ([]domain.Collection, error) {
	rows, err := q.db.Query(ctx, `SELECT `+collectionColumns+` FROM collections WHERE org_id = $1 AND region = $2 ORDER BY id FOR UPDATE`, orgID, region)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, scanCollection)
}

// SetCollectionState moves a collection to state.
func (q *Q) SetCollectionState(ctx context.Context, id, state, reason string, at time.Time) error {
	_, err := q.db.Exec(ctx, `UPDATE collections SET state = $2, state_reason = $3, state_changed_at = $4 WHERE id = $1`, id, state, reason, at)
	return translate(err)
}

// DeleteCollection removes a collection and its documents.
func (q *Q) DeleteCollection(ctx context.Context, orgID, id string) error {
	return q.changeOne(ctx, "collection", `DELETE FROM collections WHERE org_id = $1 AND id = $2`, orgID, id)
}
