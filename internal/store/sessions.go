package store

import (
	"context"
	"time"
)

// InsertSession records a console session of a token (tokenID and orgID empty: the admin token's),
// live until expires, and forgets every session already expired.
func (q *Q) InsertSession(ctx context.Context, id, tokenID, orgID string, expires time.Time) error {
	if _, err := q.db.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1`, q.Now()); err != nil {
		return translate(err)
	}
	_, err := q.db.Exec(ctx, `INSERT INTO console_sessions (id, token_id, org_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		id, nullable(tokenID), nullable(orgID), q.Now(), expires)
	return translate(err)
}

// SessionLive reports whether the console session id exists, has not expired, and its token (if it
// has one) is not revoked.
func (q *Q) SessionLive(ctx context.Context, id string) (bool, error) {
	var live bool
	err := q.db.QueryRow(ctx, `
SELECT EXISTS (
    SELECT FROM console_sessions s LEFT JOIN tokens t ON t.id = s.token_id
    WHERE s.id = $1 AND s.expires_at > $2 AND (s.token_id IS NULL OR t.revoked_at IS NULL))`, id, q.Now()).Scan(&live)
	return live, translate(err)
}

// DeleteSession ends one console session; ending one that is gone is no error.
func (q *Q) DeleteSession(ctx context.Context, id string) error {
	_, err := q.db.Exec(ctx, `DELETE FROM console_sessions WHERE id = $1`, id)
	return translate(err)
}

// DeleteTokenSessions ends every console session of a token.
func (q *Q) DeleteTokenSessions(ctx context.Context, tokenID string) error {
	_, err := q.db.Exec(ctx, `DELETE FROM console_sessions WHERE token_id = $1`, tokenID)
	return translate(err)
}
