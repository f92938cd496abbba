package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// InsertEvent appends to the audit trail; id and time are filled in when empty.
func (t *Tx) InsertEvent(ctx context.Context, e domain.Event) error {
	if e.ID == "" {
		e.ID = domain.NewID("evt")
	}
	if e.At.IsZero() {
		e.At = t.now
	}
	_, err := t.tx.Exec(ctx, `
INSERT INTO events (id, org_id, type, at, actor, region, collection_id, from_state, to_state, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.ID, e.OrgID, e.Type, e.At, e.Actor, e.Region, e.CollectionID, e.FromState, e.ToState, e.Reason)
	return translate(err)
}

// Events lists an organisation's events newest first, optionally of one type.
func (s *Store) Events(ctx context.Context, orgID, typ string, page Page) ([]domain.Event, string, error) {
	after, err := page.after()
	if err != nil {
		return nil, "", err
	}
	if after.Seq == 0 {
		after.Seq = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `
SELECT seq, id, org_id, type, at, actor, region, collection_id, from_state, to_state, reason FROM events
WHERE org_id = $1 AND ($2 = '' OR type = $2) AND seq < $3
ORDER BY seq DESC LIMIT $4`, orgID, typ, after.Seq, page.Limit+1)
	if err != nil {
		return nil, "", translate(err)
	}
	type seqEvent struct {
		seq int64
		domain.Event
	}
	evs, err := collect(rows, func(r pgx.Row) (seqEvent, error) {
		var e seqEvent
		err := r.Scan(&e.seq, &e.ID, &e.OrgID, &e.Type, &e.At, &e.Actor, &e.Region, &e.CollectionID, &e.FromState, &e.ToState, &e.Reason)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, "", err
	}
	evs, next, err := trim(evs, page.Limit, func(e seqEvent) cursor { return cursor{Seq: e.seq} })
	out := make([]domain.Event, len(evs))
	for i, e := range evs {
		out[i] = e.Event
	}
	return out, next, err
}
