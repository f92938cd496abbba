package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

const keyEventsSelect = `
SELECT org_id, api_key_hash, events_received, events_matched, last_event_at, last_event_name, created_at
FROM key_event_sources`

func scanKeyEvents(r pgx.Row) (domain.KeyEvents, error) {
	var k domain.KeyEvents
	err := r.Scan(&k.OrgID, &k.APIKeyHash, &k.EventsReceived, &k.EventsMatched, &k.LastEventAt, &k.LastEventName, &k.CreatedAt)
	k.LastEventAt = utc(k.LastEventAt)
	k.CreatedAt = k.CreatedAt.UTC()
	return k, translate(err)
}

// KeyEvents reads an organisation's key-event delivery; ok is false when it has none.
func (q *Q) KeyEvents(ctx context.Context, orgID string) (k domain.KeyEvents, ok bool, err error) {
	k, err = scanKeyEvents(q.db.QueryRow(ctx, keyEventsSelect+` WHERE org_id = $1`, orgID))
	if errors.Is(err, domain.ErrNotFound) {
		return domain.KeyEvents{}, false, nil
	}
	return k, err == nil, err
}

// PutKeyEvents turns an organisation's key events on with the api key hashed as hash, or replaces
// the hash of the one it has (a rotation keeps the counters and the creation time).
func (q *Q) PutKeyEvents(ctx context.Context, orgID string, hash []byte, now time.Time) (domain.KeyEvents, error) {
	return scanKeyEvents(q.db.QueryRow(ctx, `
INSERT INTO key_event_sources (org_id, api_key_hash, created_at) VALUES ($1, $2, $3)
ON CONFLICT (org_id) DO UPDATE SET api_key_hash = excluded.api_key_hash
RETURNING org_id, api_key_hash, events_received, events_matched, last_event_at, last_event_name, created_at`,
		orgID, hash, now))
}

// DeleteKeyEvents turns an organisation's key events off; it reports whether they were on.
func (q *Q) DeleteKeyEvents(ctx context.Context, orgID string) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM key_event_sources WHERE org_id = $1`, orgID)
	return tag.RowsAffected() > 0, translate(err)
}

// CountKeyEvent counts one authenticated event of an organisation, matched or not, at now.
func (q *Q) CountKeyEvent(ctx context.Context, orgID, name string, matched bool, now time.Time) error {
	_, err := q.db.Exec(ctx, `
UPDATE key_event_sources SET events_received = events_received + 1,
    events_matched = events_matched + CASE WHEN $3 THEN 1 ELSE 0 END,
    last_event_at = $4, last_event_name = $2
WHERE org_id = $1`, orgID, name, matched, now)
	return translate(err)
}

// LastKeyEventAt is when the organisation's last key event arrived; nil when none ever did.
func (q *Q) LastKeyEventAt(ctx context.Context, orgID string) (*time.Time, error) {
	var at *time.Time
	err := q.db.QueryRow(ctx, `SELECT last_event_at FROM key_event_sources WHERE org_id = $1`, orgID).Scan(&at)
	if errors.Is(translate(err), domain.ErrNotFound) {
		return nil, nil
	}
	return utc(at), translate(err)
}
