package store

import "context"

// Exec runs a statement the store has no method for (an UPDATE of a key link, say) and translates
// its error as every store method does, so tests see what the database's rules answer.
func (q *Q) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := q.db.Exec(ctx, sql, args...)
	return translate(err)
}

// Count runs a count(*) query.
func (q *Q) Count(ctx context.Context, sql string, args ...any) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, sql, args...).Scan(&n)
	return n, translate(err)
}
