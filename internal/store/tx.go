package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lazyTx is InTx's transaction. It holds back what need not go out yet, to send it in one pipeline
// with what comes next instead of on a round trip of its own: its BEGIN (pgx's Begin waits for
// BEGIN's answer), and the writes queued by Q.write, whose only answer is their error. Each statement
// then goes out after what is held, and COMMIT after what is still held; with nothing sent at all
// there is nothing to commit. An organisation's creation is so one round trip: BEGIN, its inserts,
// its idempotent result and COMMIT. Within a pipeline PostgreSQL skips every statement after one
// that fails, COMMIT included, and rollback ends the transaction: a failure anywhere stores nothing.
type lazyTx struct {
	conn  *pgxpool.Conn
	begun bool
	held  []*pgx.QueuedQuery // queued writes not sent yet
}

// errCommitRolledBack is a COMMIT that PostgreSQL answered with ROLLBACK: the transaction had failed.
var errCommitRolledBack = errors.New("commit unexpectedly resulted in rollback")

// write runs b, writes whose only answer is their error. Inside InTx they are held back to go out
// with the transaction's next statement or its COMMIT, which then answers with their error; anywhere
// else (the pool, InSnapshot) they run at once, as one batch.
func (q *Q) write(ctx context.Context, b *pgx.Batch) error {
	if t, ok := q.db.(*lazyTx); ok {
		t.held = append(t.held, b.QueuedQueries...)
		return nil
	}
	return translate(q.db.SendBatch(ctx, b).Close())
}

// direct reports whether nothing is held back: statements go to the connection as they are.
func (t *lazyTx) direct() bool { return t.begun && len(t.held) == 0 }

// send sends what is held back (BEGIN first, when it has not gone out) and then the statements of b,
// in one pipeline; the results are b's, read after the held statements' (whose first error is
// theirs).
func (t *lazyTx) send(ctx context.Context, b *pgx.Batch) *firstBatch {
	out := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 1+len(t.held)+len(b.QueuedQueries))}
	if !t.begun {
		out.Queue("BEGIN")
	}
	out.QueuedQueries = append(append(out.QueuedQueries, t.held...), b.QueuedQueries...)
	held := len(out.QueuedQueries) - len(b.QueuedQueries)
	t.begun, t.held = true, nil
	return &firstBatch{BatchResults: t.conn.SendBatch(ctx, out), held: held}
}

// one is the batch of the single statement sql.
func one(sql string, args ...any) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return b
}

// Exec, like Query and QueryRow, sends its statement to the connection when nothing is held back;
// otherwise it goes out after what is held, in one pipeline (send), whose results are read first.
func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.direct() {
		return t.conn.Exec(ctx, sql, args...)
	}
	br := t.send(ctx, one(sql, args...))
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.direct() {
		return t.conn.Query(ctx, sql, args...)
	}
	br := t.send(ctx, one(sql, args...))
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &firstRows{Rows: rows, br: br}, nil
}

func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.direct() {
		return t.conn.QueryRow(ctx, sql, args...)
	}
	return &firstRow{br: t.send(ctx, one(sql, args...))}
}

func (t *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.direct() {
		return t.conn.SendBatch(ctx, b)
	}
	return t.send(ctx, b)
}

func (t *lazyTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if !t.direct() {
		if err := t.send(ctx, &pgx.Batch{}).Close(); err != nil {
			return 0, err
		}
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// commit commits what was sent, after what is still held back; with nothing sent or held there is
// nothing to commit. When it fails the transaction stays begun, for rollback to end.
func (t *lazyTx) commit(ctx context.Context) error {
	if !t.begun && len(t.held) == 0 {
		return nil
	}
	tag, err := t.Exec(ctx, "COMMIT")
	if err != nil {
		return err
	}
	t.begun = false
	if tag.String() == "ROLLBACK" {
		return errCommitRolledBack
	}
	return nil
}

// rollback ends a transaction that was not committed; what is held back is never sent. A connection
// it cannot bring back to idle is closed by the pool on release.
func (t *lazyTx) rollback(ctx context.Context) {
	t.held = nil
	if t.begun {
		t.begun = false
		_, _ = t.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
}

// firstRows are the rows of a transaction's first statement: closing them ends its pipeline.
type firstRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
}

func (r *firstRows) Close() {
	r.Rows.Close()
	if err := r.br.Close(); err != nil && r.Rows.Err() == nil {
		r.err = err
	}
}

func (r *firstRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// firstRow is the row of a transaction's first statement: scanning it ends its pipeline.
type firstRow struct{ br pgx.BatchResults }

func (r *firstRow) Scan(dest ...any) error {
	err := r.br.QueryRow().Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

// errRow is a row that failed before it was read.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// firstBatch are the results of a pipeline that begins with held statements (BEGIN, queued writes),
// whose results are read before the rest's.
type firstBatch struct {
	pgx.BatchResults
	held int // results of held statements still to read
	err  error
}

func (b *firstBatch) skip() error {
	for ; b.held > 0 && b.err == nil; b.held-- {
		_, b.err = b.BatchResults.Exec()
	}
	return b.err
}

func (b *firstBatch) Exec() (pgconn.CommandTag, error) {
	if err := b.skip(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return b.BatchResults.Exec()
}

func (b *firstBatch) Query() (pgx.Rows, error) {
	if err := b.skip(); err != nil {
		return nil, err
	}
	return b.BatchResults.Query()
}

func (b *firstBatch) QueryRow() pgx.Row {
	if err := b.skip(); err != nil {
		return errRow{err}
	}
	return b.BatchResults.QueryRow()
}

func (b *firstBatch) Close() error {
	err := b.skip()
	if cerr := b.BatchResults.Close(); err == nil {
		err = cerr
	}
	return err
}
