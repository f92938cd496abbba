package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// InsertEvent appends to the audit trail; id and time are filled in when empty.
func (q *Q) InsertEvent(ctx context.Context, e domain.Event) error {
	if e.ID == "" {
		e.ID = domain.NewID("evt")
	}
	if e.At.IsZero() {
		e.At = q.Now()
	}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	_, err := q.db.Exec(ctx, `
INSERT INTO events (id, org_id, type, at, actor, region, collection_id, from_state, to_state, reason, details)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.ID, e.OrgID, e.Type, e.At, e.Actor, e.Region, e.CollectionID, e.FromState, e.ToState, e.Reason, e.Details)
	return translate(err)
}

// Events lists an organisation's events newest first, optionally of one type; orgID "" lists every
// organisation's (the admin's trail, deleted organisations included).
func (q *Q) Events(ctx context.Context, orgID, typ string, page domain.Page) ([]domain.Event, string, error) {
	return list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		if after.Seq == 0 {
			after.Seq = 1<<63 - 1
		}
		return `
SELECT seq, id, org_id, type, at, actor, region, collection_id, from_state, to_state, reason, details FROM events
WHERE ($1 = '' OR org_id = $1) AND ($2 = '' OR type = $2) AND seq < $3
ORDER BY seq DESC LIMIT $4`, []any{orgID, typ, after.Seq, limit}
	}, func(r pgx.Row) (domain.Event, error) {
		var e domain.Event
		err := r.Scan(&e.Seq, &e.ID, &e.OrgID, &e.Type, &e.At, &e.Actor, &e.Region, &e.CollectionID, &e.FromState, &e.ToState, &e.Reason, &e.Details)
		e.At = e.At.UTC()
		if e.Details == nil {
			e.Details = map[string]any{}
		}
		return e, err
	}, func(e domain.Event) cursor { return cursor{Seq: e.Seq} })
}
