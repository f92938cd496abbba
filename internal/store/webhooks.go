package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// SealedWebhookSecret is a webhook endpoint's signing secret as stored: sealed by the keyring under data key KeyID.
type SealedWebhookSecret struct {
	KeyID      string
	AADVersion int // the keyring AAD version the secret was sealed with
	Nonce      []byte
	Ciphertext []byte
}

const webhookColumns = `w.id, w.org_id, w.url, w.events, w.status, w.created_at`

func scanWebhook(r pgx.Row) (domain.Webhook, error) {
	var w domain.Webhook
	err := r.Scan(&w.ID, &w.OrgID, &w.URL, &w.Events, &w.Status, &w.CreatedAt)
	w.CreatedAt = w.CreatedAt.UTC()
	return w, translate(err)
}

// InsertWebhook stores a new endpoint. Its cursor starts at the end of the audit trail: it hears of
// what happens from now on.
func (q *Q) InsertWebhook(ctx context.Context, w domain.Webhook, secret SealedWebhookSecret) error {
	_, err := q.db.Exec(ctx, `
INSERT INTO webhooks (id, org_id, url, events, status, secret_key_id, secret_aad_version, secret_nonce, secret_sealed, cursor_seq,
    next_attempt_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $10, $7, $8, (SELECT coalesce(max(seq), 0) FROM events), $9, $9)`,
		w.ID, w.OrgID, w.URL, w.Events, w.Status, secret.KeyID, secret.Nonce, secret.Ciphertext, w.CreatedAt, secret.AADVersion)
	return translate(err)
}

// Webhooks lists an organisation's endpoints, oldest first.
func (q *Q) Webhooks(ctx context.Context, orgID string, page domain.Page) ([]domain.Webhook, string, error) {
	return list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		return `SELECT ` + webhookColumns + ` FROM webhooks w
WHERE w.org_id = $1 AND (w.created_at, w.id) > ($2, $3) ORDER BY w.created_at, w.id LIMIT $4`,
			[]any{orgID, after.At, after.ID, limit}
	}, scanWebhook, func(w domain.Webhook) cursor { return cursor{At: w.CreatedAt, ID: w.ID} })
}

// Webhook reads one endpoint of the organisation.
func (q *Q) Webhook(ctx context.Context, orgID, id string) (domain.Webhook, error) {
	w, err := scanWebhook(q.db.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks w WHERE w.org_id = $1 AND w.id = $2`, orgID, id))
	return w, translateMissing(err, "webhook")
}

// LockWebhook reads one endpoint of the organisation and locks it until the transaction ends.
func (q *Q) LockWebhook(ctx context.Context, orgID, id string) (domain.Webhook, error) {
	w, err := scanWebhook(q.db.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks w WHERE w.org_id = $1 AND w.id = $2 FOR UPDATE`, orgID, id))
	return w, translateMissing(err, "webhook")
}

// DeleteWebhook removes an endpoint with its delivery log.
func (q *Q) DeleteWebhook(ctx context.Context, orgID, id string) error {
	return q.changeOne(ctx, "webhook", `DELETE FROM webhooks WHERE org_id = $1 AND id = $2`, orgID, id)
}

// Horizon is what the dispatcher learns of the audit trail in one snapshot: the highest seq and
// the seqs above a point, with the snapshot's transaction-id bounds.
type Horizon struct {
	// XMin is the oldest transaction still running; XMax the next transaction id to be assigned.
	XMin, XMax int64
	// MaxSeq is the highest seq visible.
	MaxSeq int64
	// Seqs are the visible seqs above the point asked for, in order, at most the limit asked for.
	Seqs []int64
}

// EventHorizon reads, in one snapshot, the audit trail's highest seq, up to limit seqs above after,
// and the snapshot's transaction bounds.
func (q *Q) EventHorizon(ctx context.Context, after int64, limit int) (Horizon, error) {
	var h Horizon
	err := q.db.QueryRow(ctx, `
SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint,
       (SELECT coalesce(max(seq), 0) FROM events),
       array(SELECT seq FROM events WHERE seq > $1 ORDER BY seq LIMIT $2)
FROM pg_current_snapshot() AS s`, after, limit).Scan(&h.XMin, &h.XMax, &h.MaxSeq, &h.Seqs)
	return h, translate(err)
}

// MinWebhookCursor is the lowest cursor of the active endpoints, or the highest seq when there is
// none: where a dispatcher that just started takes the audit trail to be complete.
func (q *Q) MinWebhookCursor(ctx context.Context) (int64, error) {
	var n int64
	err := q.db.QueryRow(ctx, `SELECT coalesce((SELECT min(cursor_seq) FROM webhooks WHERE status = 'active'),
    (SELECT max(seq) FROM events), 0)`).Scan(&n)
	return n, translate(err)
}

// ClaimedWebhook is an endpoint leased to one dispatcher, with what it needs to deliver.
type ClaimedWebhook struct {
	domain.Webhook
	Secret       SealedWebhookSecret
	Cursor       int64
	Attempts     int
	FailingSince *time.Time
}

// ClaimWebhooks leases to owner, until now+lease, up to limit active endpoints that are due and have
// events in (cursor, horizon]. Rows another replica is claiming are skipped.
func (q *Q) ClaimWebhooks(ctx context.Context, owner string, now time.Time, lease time.Duration, horizon int64, limit int) ([]ClaimedWebhook, error) {
	rows, err := q.db.Query(ctx, `
WITH due AS (
    SELECT w.id FROM webhooks w
    WHERE w.status = 'active' AND w.next_attempt_at <= $2 AND (w.lease_until IS NULL OR w.lease_until <= $2)
      AND w.cursor_seq < $4
      AND EXISTS (SELECT 1 FROM events e WHERE e.org_id = w.org_id AND e.seq > w.cursor_seq AND e.seq <= $4)
    ORDER BY w.next_attempt_at
    LIMIT $5
    FOR UPDATE OF w SKIP LOCKED
)
UPDATE webhooks w SET lease_owner = $1, lease_until = $3
FROM due WHERE w.id = due.id
RETURNING `+webhookColumns+`, w.secret_key_id, w.secret_aad_version, w.secret_nonce, w.secret_sealed, w.cursor_seq, w.attempts, w.failing_since`,
		owner, now, now.Add(lease), horizon, limit)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r pgx.Row) (ClaimedWebhook, error) {
		var c ClaimedWebhook
		err := r.Scan(&c.ID, &c.OrgID, &c.URL, &c.Events, &c.Status, &c.CreatedAt,
			&c.Secret.KeyID, &c.Secret.AADVersion, &c.Secret.Nonce, &c.Secret.Ciphertext, &c.Cursor, &c.Attempts, &c.FailingSince)
		c.CreatedAt = c.CreatedAt.UTC()
		return c, err
	})
}

// matchesEndpoint is the one statement of which events an endpoint w hears of: a webhook.test only
// by the endpoint it names, every other event by the endpoints whose filter has its type or "*".
const matchesEndpoint = `CASE WHEN e.type = 'webhook.test' THEN e.webhook_id = w.id
    ELSE '*' = ANY (w.events) OR e.type = ANY (w.events) END`

// PendingEvents lists, in audit order, up to limit events of endpoint id in (after, upto] that it
// hears of.
func (q *Q) PendingEvents(ctx context.Context, id string, after, upto int64, limit int) ([]domain.Event, error) {
	rows, err := q.db.Query(ctx, `
SELECT `+eventColumns+` FROM webhooks w JOIN events e ON e.org_id = w.org_id
WHERE w.id = $1 AND e.seq > $2 AND e.seq <= $3 AND `+matchesEndpoint+`
ORDER BY e.seq LIMIT $4`, id, after, upto, limit)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, scanEvent)
}

// QueueStats counts the events active endpoints have yet to receive, and the time of the oldest.
func (q *Q) QueueStats(ctx context.Context) (depth int64, oldest *time.Time, err error) {
	err = q.db.QueryRow(ctx, `
SELECT count(*), min(e.at) FROM webhooks w JOIN events e ON e.org_id = w.org_id AND e.seq > w.cursor_seq
WHERE w.status = 'active' AND `+matchesEndpoint).Scan(&depth, &oldest)
	return depth, oldest, translate(err)
}

// InsertDelivery records one delivery attempt.
func (q *Q) InsertDelivery(ctx context.Context, d domain.WebhookDelivery) error {
	_, err := q.db.Exec(ctx, `
INSERT INTO webhook_deliveries (id, webhook_id, event_id, type, attempt, at, status_code, latency_ms, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		d.ID, d.WebhookID, d.EventID, d.Type, d.Attempt, d.At, d.StatusCode, d.Latency.Milliseconds(), d.Error)
	return translate(err)
}

// WebhookProgress is where an endpoint's delivery stands after an attempt.
type WebhookProgress struct {
	Cursor        int64
	Attempts      int
	FailingSince  *time.Time
	NextAttemptAt time.Time
	// Keep holds the lease for another round (more events to send now); otherwise it is released.
	Keep      bool
	LeaseTill time.Time
}

// SaveWebhookProgress writes an endpoint's progress if owner still holds its lease; it reports
// whether it did. A dispatcher whose lease ran out stops: another replica has the endpoint now.
func (q *Q) SaveWebhookProgress(ctx context.Context, id, owner string, now time.Time, p WebhookProgress) (bool, error) {
	leaseOwner, leaseUntil := "", (*time.Time)(nil)
	if p.Keep {
		leaseOwner, leaseUntil = owner, &p.LeaseTill
	}
	tag, err := q.db.Exec(ctx, `
UPDATE webhooks SET cursor_seq = $4, attempts = $5, failing_since = $6, next_attempt_at = $7,
    lease_owner = $8, lease_until = $9
WHERE id = $1 AND lease_owner = $2 AND lease_until > $3`,
		id, owner, now, p.Cursor, p.Attempts, p.FailingSince, p.NextAttemptAt, leaseOwner, leaseUntil)
	if err != nil {
		return false, translate(err)
	}
	return tag.RowsAffected() == 1, nil
}

// DisableWebhook marks an endpoint disabled and releases its lease.
func (q *Q) DisableWebhook(ctx context.Context, id string) error {
	_, err := q.db.Exec(ctx, `UPDATE webhooks SET status = 'disabled', lease_owner = '', lease_until = NULL WHERE id = $1`, id)
	return translate(err)
}

// Deliveries lists an endpoint's delivery attempts, newest first.
func (q *Q) Deliveries(ctx context.Context, webhookID string, page domain.Page) ([]domain.WebhookDelivery, string, error) {
	type row struct {
		seq int64
		d   domain.WebhookDelivery
	}
	items, next, err := list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		if after.Seq == 0 {
			after.Seq = 1<<63 - 1
		}
		return `
SELECT seq, id, webhook_id, event_id, type, attempt, at, status_code, latency_ms, error FROM webhook_deliveries
WHERE webhook_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, []any{webhookID, after.Seq, limit}
	}, func(r pgx.Row) (row, error) {
		var x row
		var ms int64
		err := r.Scan(&x.seq, &x.d.ID, &x.d.WebhookID, &x.d.EventID, &x.d.Type, &x.d.Attempt, &x.d.At, &x.d.StatusCode, &ms, &x.d.Error)
		x.d.At, x.d.Latency = x.d.At.UTC(), time.Duration(ms)*time.Millisecond
		return x, err
	}, func(x row) cursor { return cursor{Seq: x.seq} })
	out := make([]domain.WebhookDelivery, len(items))
	for i, x := range items {
		out[i] = x.d
	}
	return out, next, err
}

// ReleaseWebhookLeases gives back every lease owner holds, when its dispatcher stops.
func (q *Q) ReleaseWebhookLeases(ctx context.Context, owner string) error {
	_, err := q.db.Exec(ctx, `UPDATE webhooks SET lease_owner = '', lease_until = NULL WHERE lease_owner = $1`, owner)
	return translate(err)
}
