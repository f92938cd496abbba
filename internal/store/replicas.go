package store

import (
	"context"
	"time"
)

// Heartbeat records that the monitor replica owner is alive at now, forgets replicas not seen since
// now-window, and returns how many replicas are alive, this one included.
func (q *Q) Heartbeat(ctx context.Context, owner string, now time.Time, window time.Duration) (int, error) {
	var others int
	// The data-modifying CTEs are not visible to the final SELECT, which counts the others as they
	// were; this replica adds one.
	err := q.db.QueryRow(ctx, `
WITH beat AS (
    INSERT INTO monitor_replicas (owner, seen_at) VALUES ($1, $2)
    ON CONFLICT (owner) DO UPDATE SET seen_at = EXCLUDED.seen_at
), gone AS (
    DELETE FROM monitor_replicas WHERE seen_at <= $3 AND owner <> $1
)
SELECT count(*) FROM monitor_replicas WHERE seen_at > $3 AND owner <> $1`, owner, now, now.Add(-window)).Scan(&others)
	if err != nil {
		return 0, translate(err)
	}
	return others + 1, nil
}

// Leave forgets the monitor replica owner, so the others take up its share at their next beat.
func (q *Q) Leave(ctx context.Context, owner string) error {
	_, err := q.db.Exec(ctx, `DELETE FROM monitor_replicas WHERE owner = $1`, owner)
	return translate(err)
}
