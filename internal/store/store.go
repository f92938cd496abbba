// Package store keeps cmekd's state in PostgreSQL through pgx/v5. Driver errors are translated here,
// at the boundary, into domain errors; nothing above this package sees pgx.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/migrations"
)

// Store is cmekd's PostgreSQL state.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// Options configure Open.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
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
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Store{pool: pool, now: now}, nil
}

// Close releases the pool.
func (s *Store) Close() { s.pool.Close() }

// Now is the store's clock, in UTC at microsecond precision (what PostgreSQL keeps).
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

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

// Ready reports whether the database answers and every migration is applied (SPEC §5 /readyz).
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

// Tx is one database transaction; its methods compose atomic work.
type Tx struct {
	tx  pgx.Tx
	now time.Time
}

// Now is the time the transaction's work is stamped with.
func (t *Tx) Now() time.Time { return t.now }

// InTx runs fn in a transaction, committing when it returns nil and rolling back otherwise.
func (s *Store) InTx(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after commit
	if err := fn(&Tx{tx: tx, now: s.Now()}); err != nil {
		return err
	}
	return translate(tx.Commit(ctx))
}

// ErrKeyLinkImmutable is the database's refusal to change a stored key link.
var ErrKeyLinkImmutable = domain.Errorf(http.StatusConflict, domain.CodeKeyLinkImmutable,
	"the key link of an organisation cannot be changed")

// translate turns driver errors into domain errors; anything unknown stays internal.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.ConstraintName {
		case "orgs_name_unique":
			return domain.Errorf(http.StatusConflict, domain.CodeOrgNameTaken, "an organisation with this name already exists")
		case "key_links_immutable":
			return ErrKeyLinkImmutable
		case "collections_org_name_unique":
			return domain.Errorf(http.StatusConflict, domain.CodeCollectionNameTaken, "a collection with this name already exists")
		}
	}
	return err
}
