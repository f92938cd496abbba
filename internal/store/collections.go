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
	if err := translate(err); err == domain.ErrNotFound {
		return c, domain.NotFound("collection")
	} else if err != nil {
		return c, err
	}
	return c, nil
}

// InsertCollection stores a new collection.
func (t *Tx) InsertCollection(ctx context.Context, c domain.Collection) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO collections (`+collectionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.ID, c.OrgID, c.Name, c.Region, c.State, c.StateReason, c.StateChangedAt, c.Recoverable, c.CreatedAt)
	return translate(err)
}

// Collection reads one collection of an organisation.
func (s *Store) Collection(ctx context.Context, orgID, id string) (domain.Collection, error) {
	return scanCollection(s.pool.QueryRow(ctx, `SELECT `+collectionColumns+` FROM collections WHERE org_id = $1 AND id = $2`, orgID, id))
}

// LockCollection reads one collection of an organisation and locks it for the transaction.
func (t *Tx) LockCollection(ctx context.Context, orgID, id string) (domain.Collection, error) {
	return scanCollection(t.tx.QueryRow(ctx, `SELECT `+collectionColumns+` FROM collections WHERE org_id = $1 AND id = $2 FOR UPDATE`, orgID, id))
}

// Collections lists an organisation's collections, oldest first.
func (s *Store) Collections(ctx context.Context, orgID string, page Page) ([]domain.Collection, string, error) {
	after, err := page.after()
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+collectionColumns+` FROM collections
WHERE org_id = $1 AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $4`, orgID, after.At, after.ID, page.Limit+1)
	if err != nil {
		return nil, "", translate(err)
	}
	cols, err := collect(rows, scanCollection)
	if err != nil {
		return nil, "", err
	}
	return trim(cols, page.Limit, func(c domain.Collection) cursor { return cursor{At: c.CreatedAt, ID: c.ID} })
}

// LockCollectionsIn locks and returns the organisation's collections in a region, for a state change.
func (t *Tx) LockCollectionsIn(ctx context.Context, orgID, region string) ([]domain.Collection, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+collectionColumns+` FROM collections WHERE org_id = $1 AND region = $2 ORDER BY id FOR UPDATE`, orgID, region)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, scanCollection)
}

// SetCollectionState moves a collection to state.
func (t *Tx) SetCollectionState(ctx context.Context, id, state, reason string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE collections SET state = $2, state_reason = $3, state_changed_at = $4 WHERE id = $1`, id, state, reason, at)
	return translate(err)
}

// DeleteCollection removes a collection and its documents.
func (t *Tx) DeleteCollection(ctx context.Context, orgID, id string) error {
	tag, err := t.tx.Exec(ctx, `DELETE FROM collections WHERE org_id = $1 AND id = $2`, orgID, id)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return domain.NotFound("collection")
	}
	return nil
}
