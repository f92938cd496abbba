// Package testkit is the plumbing every test shares: a fresh, migrated PostgreSQL database per test
// (Database), a clock tests move by hand (Clock) and a logger (Logger).
//
// A template database is migrated once per schema version and cloned per test, then dropped in
// t.Cleanup.
//
// The server comes from CMEKD_TEST_DATABASE_URL; else from testcontainers-go's PostgreSQL module
// when a Docker engine answers; else the local server on 127.0.0.1:5432.
package testkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/migrations"
)

const localURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	serverOnce sync.Once
	serverURL  string
	serverErr  error
)

// DockerAvailable reports whether a Docker engine answers, without letting testcontainers panic.
func DockerAvailable() bool {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if sock, ok := strings.CutPrefix(h, "unix://"); ok {
			return dialable("unix", sock)
		}
		if hostport, ok := strings.CutPrefix(h, "tcp://"); ok {
			return dialable("tcp", hostport)
		}
		return false
	}
	return dialable("unix", "/var/run/docker.sock")
}

func dialable(network, addr string) bool {
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// server returns the URL of a maintenance database on the PostgreSQL server tests use.
func server() (string, error) {
	serverOnce.Do(func() {
		if u := os.Getenv("CMEKD_TEST_DATABASE_URL"); u != "" {
			serverURL = u
			return
		}
		if DockerAvailable() {
			ctx := context.Background()
			c, err := tcpostgres.Run(ctx, "postgres:15-alpine", tcpostgres.WithDatabase("postgres"),
				tcpostgres.BasicWaitStrategies())
			if err != nil {
				serverErr = fmt.Errorf("start PostgreSQL container: %w", err)
				return
			}
			// The container lives as long as the test binary; Ryuk reaps it afterwards.
			serverURL, serverErr = c.ConnectionString(ctx, "sslmode=disable")
			return
		}
		serverURL = localURL
	})
	return serverURL, serverErr
}

// withDatabase swaps the database name of a postgres:// URL.
func withDatabase(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("test database URL must be a postgres:// URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

var (
	templateMu   sync.Mutex
	templateName string // "" until built, and again after another run dropped it
)

// schemaHash names the template after the migrations, so a changed schema gets a new template.
func schemaHash() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(migrations.FS, path)
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// template makes the migrated template database once per server and schema (again if it went
// missing), under an advisory lock so that test binaries running in parallel do not race.
func template(ctx context.Context, admin *pgx.Conn, srv string) (string, error) {
	templateMu.Lock()
	defer templateMu.Unlock()
	if templateName != "" {
		return templateName, nil
	}
	name := "cmekd_template_" + schemaHash()
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(4242)`); err != nil {
		return "", err
	}
	defer admin.Exec(ctx, `SELECT pg_advisory_unlock(4242)`) //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		build := name + "_building"
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+build+" WITH (FORCE)")
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+build); err != nil {
			return "", err
		}
		u, err := withDatabase(srv, build)
		if err != nil {
			return "", err
		}
		if err := store.Migrate(ctx, u); err != nil {
			return "", err
		}
		if _, err := admin.Exec(ctx, "ALTER DATABASE "+build+" RENAME TO "+name); err != nil {
			return "", err
		}
	}
	// The comment dates the template's last use, so that other checkouts' runs leave it alone.
	_, _ = admin.Exec(ctx, "COMMENT ON DATABASE "+name+" IS '"+templateComment+time.Now().UTC().Format(time.RFC3339)+"'")
	dropStaleTemplates(ctx, admin, name)
	templateName = name
	return name, nil
}

// forgetTemplate makes the next Database build the template again: another run dropped it.
func forgetTemplate() {
	templateMu.Lock()
	defer templateMu.Unlock()
	templateName = ""
}

const templateComment = "cmekd test template, last used "

// dropStaleTemplates drops the templates of earlier schemas unused for a day, so they do not pile up
// as migrations change. Another checkout's template of another schema, used by a run today, is left
// alone, and so is one in use right now: DROP without FORCE refuses while anyone is connected.
func dropStaleTemplates(ctx context.Context, admin *pgx.Conn, current string) {
	rows, err := admin.Query(ctx, `
SELECT datname FROM pg_database
WHERE datname LIKE 'cmekd\_template\_%' AND datname <> $1
  AND coalesce(substring(shobj_description(oid, 'pg_database') FROM '\d{4}-\d\d-\d\dT[0-9:]+Z'), now()::text)::timestamptz < now() - interval '1 day'`, current)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize())
	}
}

// Database creates a fresh migrated database for t and returns its URL; it is dropped when t ends.
func Database(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := server()
	if err != nil {
		t.Fatalf("test database server: %v", err)
	}
	admin, err := pgx.Connect(ctx, srv)
	if err != nil {
		t.Fatalf("connect to test database server %s (set CMEKD_TEST_DATABASE_URL, or start PostgreSQL on 127.0.0.1:5432): %v", srv, err)
	}
	defer admin.Close(ctx)
	name := "cmekd_test_" + strings.TrimPrefix(domain.NewID("db"), "db_")
	// Cloning takes a lock on the template; parallel clones can collide briefly, so retry. A
	// template that went missing (dropped by a run of another schema) is built again.
	for attempt := 0; ; attempt++ {
		var tmpl string
		if tmpl, err = template(ctx, admin, srv); err != nil {
			t.Fatalf("template database: %v", err)
		}
		_, err = admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tmpl)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "3D000" {
			forgetTemplate()
		}
		if err == nil || attempt == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, srv)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u, err := withDatabase(srv, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
