package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// InsertEvent appends to the audit trail; id and time are filled in when empty.
//
// The transaction's id is taken (pg_current_xact_id, in the FROM subquery that runs before the
// row's seq is drawn) before its seq, so that every seq is drawn by a transaction whose id is already
// assigned: the webhook dispatcher's horizon (EventHorizon) relies on it.
func (q *Q) InsertEvent(ctx context.Context, e domain.Event) error {
	_, err := q.db.Exec(ctx, insertEventSQL, q.eventArgs(e)...)
	return translate(err)
}

const insertEventSQL = `
INSERT INTO events (id, org_id, type, at, actor, region, collection_id, from_state, to_state, reason, webhook_id, details, purpose)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM (SELECT pg_current_xact_id()) AS xact`

// eventArgs are insertEventSQL's arguments for e, its id, time and details filled in when empty.
func (q *Q) eventArgs(e domain.Event) []any {
	if e.ID == "" {
		e.ID = domain.NewID("evt")
	}
	if e.At.IsZero() {
		e.At = q.Now()
	}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	return []any{e.ID, e.OrgID, e.Type, e.At, e.Actor, e.Region, e.CollectionID, e.FromState, e.ToState, e.Reason, e.WebhookID, e.Details, e.Purpose}
}

const eventColumns = `e.seq, e.id, e.org_id, e.type, e.at, e.actor, e.region, e.collection_id, e.from_state, e.to_state, e.reason, e.webhook_id, e.details, e.purpose`

func scanEvent(r pgx.Row) (domain.Event, error) {
	var e domain.Event
	err := r.Scan(&e.Seq, &e.ID, &e.OrgID, &e.Type, &e.At, &e.Actor, &e.Region, &e.CollectionID, &e.FromState, &e.ToState, &e.Reason, &e.WebhookID, &e.Details, &e.Purpose)
	e.At = e.At.UTC()
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	return e, err
}

// Events lists an organisation's events newest first, optionally of one type; orgID "" lists every
// organisation's (the admin's trail, deleted organisations included).
func (q *Q) Events(ctx context.Context, orgID, typ string, page domain.Page) ([]domain.Event, string, error) {
	return list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		if after.Seq == 0 {
			after.Seq = 1<<63 - 1
		}
		return `
SELECT ` + eventColumns + ` FROM events e
WHERE ($1 = '' OR e.org_id = $1) AND ($2 = '' OR e.type = $2) AND e.seq < $3
ORDER BY e.seq DESC LIMIT $4`, []any{orgID, typ, after.Seq, limit}
	}, scanEvent, func(e domain.Event) cursor { return cursor{Seq: e.Seq} })
}
