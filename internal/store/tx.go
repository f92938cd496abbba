package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lazyTx is InTx's transaction: it sends its BEGIN in one pipeline with its first statement, instead
// of on a round trip of its own (pgx's Begin waits for BEGIN's answer), and its COMMIT only if a
// statement was sent at all. A transaction of one batch, an organisation's creation say, is then two
// round trips rather than three. Everything after the first statement goes to the connection as it
// is.
type lazyTx struct {
	conn  *pgxpool.Conn
	begun bool
}

// errCommitRolledBack is a COMMIT that PostgreSQL answered with ROLLBACK: the transaction had failed.
var errCommitRolledBack = errors.New("commit unexpectedly resulted in rollback")

// begin is the batch of BEGIN and then the statements of b.
func begin(b *pgx.Batch) *pgx.Batch {
	out := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	out.Queue("BEGIN")
	out.QueuedQueries = append(out.QueuedQueries, b.QueuedQueries...)
	return out
}

// one is the batch of the single statement sql.
func one(sql string, args ...any) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return b
}

// Exec, like Query and QueryRow, sends its statement to the connection once the transaction has
// begun; the transaction's first statement goes instead in one pipeline with BEGIN, through SendBatch.
func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.begun {
		return t.conn.Exec(ctx, sql, args...)
	}
	br := t.SendBatch(ctx, one(sql, args...))
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.begun {
		return t.conn.Query(ctx, sql, args...)
	}
	br := t.SendBatch(ctx, one(sql, args...))
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &firstRows{Rows: rows, br: br}, nil
}

func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.begun {
		return t.conn.QueryRow(ctx, sql, args...)
	}
	return &firstRow{br: t.SendBatch(ctx, one(sql, args...))}
}

func (t *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.begun {
		return t.conn.SendBatch(ctx, b)
	}
	t.begun = true
	return &firstBatch{BatchResults: t.conn.SendBatch(ctx, begin(b))}
}

func (t *lazyTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if !t.begun {
		t.begun = true
		if _, err := t.conn.Exec(ctx, "BEGIN"); err != nil {
			return 0, err
		}
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// commit commits what was sent; with nothing sent there is nothing to commit.
func (t *lazyTx) commit(ctx context.Context) error {
	if !t.begun {
		return nil
	}
	tag, err := t.conn.Exec(ctx, "COMMIT")
	t.begun = false
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		return errCommitRolledBack
	}
	return nil
}

// rollback ends a transaction that was not committed. A connection it cannot bring back to idle is
// closed by the pool on release.
func (t *lazyTx) rollback(ctx context.Context) {
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

// firstBatch are the results of a transaction's first batch, its BEGIN's read before the rest.
type firstBatch struct {
	pgx.BatchResults
	skipped bool
	err     error
}

func (b *firstBatch) skip() error {
	if !b.skipped {
		b.skipped = true
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
