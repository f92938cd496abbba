// Package store keeps cmekd's state in PostgreSQL through pgx/v5. Driver errors are translated here,
// at the boundary, into domain errors; nothing above this package sees pgx.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/migrations"
)

// Store is cmekd's PostgreSQL state. Its query methods are those of Q, run on the pool; InTx runs
// them inside one transaction instead.
type Store struct {
	Q
	pool *pgxpool.Pool
}

// querier is what both the pool and a transaction run queries with.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Q runs cmekd's queries, on the pool or inside one transaction: each query method is written once,
// and the caller chooses atomicity by calling it on the Store or on the Q that InTx hands it.
type Q struct {
	db    querier
	clock clock.Clock
	stamp time.Time // inside a transaction: the time its work is stamped with
}

// Now is the store's time, in UTC at microsecond precision (what PostgreSQL keeps). Inside a
// transaction it is the same instant for all the transaction's work.
func (q *Q) Now() time.Time {
	if !q.stamp.IsZero() {
		return q.stamp
	}
	return q.clock.Now().UTC().Truncate(time.Microsecond)
}

// Options configure Open.
type Options struct {
	// Clock is the store's time; nil means the wall clock.
	Clock clock.Clock
	// MaxConns bounds the pool; zero keeps pgx's default.
	MaxConns int32
	// Tracer observes every query (benchmarks count database round trips with it); nil means none.
	Tracer pgx.QueryTracer
}

// Open creates the database named in url when it does not exist, applies the migrations and returns
// a Store over a connection pool.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if err := EnsureDatabase(ctx, url); err != nil {
		return nil, err
	}
	if err := Migrate(ctx, url); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.Tracer = opts.Tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &Store{Q: Q{db: pool, clock: clock.Or(opts.Clock)}, pool: pool}, nil
}

// Close releases the pool.
func (s *Store) Close() { s.pool.Close() }

// EnsureDatabase creates the database named in url if it is missing, connecting to the server's
// "postgres" database to do so.
func EnsureDatabase(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	name := cfg.Database
	if name == "" {
		return errors.New("database url names no database")
	}
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to database server: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created meanwhile by another replica
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// Migrate applies every pending migration. goose takes a PostgreSQL advisory lock, so replicas that
// start together apply each migration once.
func Migrate(ctx context.Context, url string) error {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	p, err := newProvider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Ready reports whether the database answers and every migration is applied (/readyz).
func (s *Store) Ready(ctx context.Context) error {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("read migration state: %w", err)
	}
	if pending {
		return errors.New("migrations pending")
	}
	return nil
}

// InTx runs fn in a transaction, committing when it returns nil and rolling back otherwise.
func (s *Store) InTx(ctx context.Context, fn func(*Q) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return translate(err)
	}
	defer conn.Release()
	tx := &lazyTx{conn: conn}
	defer tx.rollback(ctx) // a no-op after commit
	if err := fn(&Q{db: tx, clock: s.clock, stamp: s.Now()}); err != nil {
		return err
	}
	return translate(tx.commit(ctx))
}

// ErrUnavailable is the answer of every query while the database cannot be reached: the
// request is retryable, and cmekd recovers by itself when the database is back.
var ErrUnavailable = &domain.Error{Kind: domain.KindUnavailable, Code: domain.CodeDatabaseUnavailable,
	Message: "the database is unreachable right now; retry shortly", RetryAfter: 2}

// translate turns driver errors into domain errors; anything unknown stays internal.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.ErrNotFound
	}
	if unreachable(err) {
		return fmt.Errorf("%w (%v)", ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.ConstraintName {
		case "orgs_name_unique":
			return domain.Errorf(domain.KindConflict, domain.CodeOrgNameTaken, "an organisation with this name already exists")
		case "key_links_immutable":
			return domain.Errorf(domain.KindConflict, domain.CodeKeyLinkImmutable, "the key link of an organisation cannot be changed")
		case "collections_org_name_unique":
			return domain.Errorf(domain.KindConflict, domain.CodeCollectionNameTaken, "a collection with this name already exists")
		case "workspaces_org_name_unique":
			return domain.Errorf(domain.KindConflict, domain.CodeWorkspaceNameTaken, "a workspace with this name already exists")
		case "secret_scopes_org_name_unique":
			return domain.Errorf(domain.KindConflict, domain.CodeSecretScopeNameTaken, "a secret scope with this name already exists")
		case "idempotency_keys_pkey":
			return ErrReplayLost
		}
	}
	return err
}

// translateMissing is translate that names what a missing row was: no row becomes
// domain.NotFound(what).
func translateMissing(err error, what string) error {
	err = translate(err)
	if errors.Is(err, domain.ErrNotFound) {
		return domain.NotFound(what)
	}
	return err
}

// changeOne runs sql, which changes at most one row of what; changing none is domain.NotFound(what).
func (q *Q) changeOne(ctx context.Context, what, sql string, args ...any) error {
	tag, err := q.db.Exec(ctx, sql, args...)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return domain.NotFound(what)
	}
	return nil
}

// unreachable reports whether err says the database could not be reached or went away: a failed
// connect, a broken connection, a server shutting down or refusing connections. A request's own
// cancellation is not an outage.
func unreachable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 is connection exceptions; 57P01–57P03 are shutdowns and a server not yet accepting.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded)
}
