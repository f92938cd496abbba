package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/pgcluster"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	return testkit.FreeAddr(t)
}

// devConfig is dev mode's configuration from vars, as cmekd would load it from the environment.
func devConfig(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	vars["CMEKD_DEV"] = "1"
	cfg, err := config.Load(vars)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDevMode_PrivateClusterKeepsOrganisationsAcrossRestarts: with CMEKD_DEV_POSTGRES=private, dev mode
// starts a PostgreSQL cluster of its own and says so; an organisation made there is there after a
// restart (by auto, since no CMEKD_DATABASE_URL is set and nothing answers at the default address),
// the banner and its exports are unchanged, and the cluster stops each time cmekd does.
func TestDevMode_PrivateClusterKeepsOrganisationsAcrossRestarts(t *testing.T) {
	if _, err := pgcluster.FindBinaries(pgcluster.SearchDirs(), ""); err != nil {
		t.Skip("no PostgreSQL server binaries (initdb, pg_ctl) in PATH or /usr/lib/postgresql/*/bin: no private cluster to start")
	}
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	// As root the cluster lives outside the cache directory, where the postgres user can reach it:
	// not t.TempDir, whose parent only this user may enter.
	rootDir, err := os.MkdirTemp("", "cmekd-devpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rootDir) })
	clusterDir := filepath.Join(cache, "cmekd", "postgres")
	if pgcluster.IsRoot() {
		if _, _, err := pgcluster.PostgresUser(); err != nil {
			t.Skip(err)
		}
		clusterDir = filepath.Join(rootDir, "postgres")
	}
	where := DevPostgres{RootDir: rootDir, DefaultAddr: closedAddr(t)}
	addr := closedAddr(t)

	banner, stop := startDev(t, devConfig(t, map[string]string{"CMEKD_DEV_POSTGRES": "private", "CMEKD_ADDR": addr}), where)
	m := regexp.MustCompile(`database +cmekd in a private PostgreSQL cluster at (127\.0\.0\.1:\d+) \(kept in (\S+);`).FindStringSubmatch(banner)
	if m == nil || m[2] != clusterDir {
		t.Fatalf("the banner does not say which private cluster (in %s) it uses:\n%s", clusterDir, banner)
	}
	pgAddr := m[1]
	token := exported(t, banner, "CMEKD_TOKEN")
	org := call(t, "POST", "http://"+addr+"/v1/orgs", token, map[string]any{"name": "Kept", "region": "us-west-2",
		"encryption": map[string]any{"mode": "customer_managed", "key_arn": exported(t, banner, "CMEKD_KEY_ARN")}}, http.StatusCreated)["id"]
	stop()
	stopped(t, pgAddr, clusterDir)

	again, stop := startDev(t, devConfig(t, map[string]string{"CMEKD_ADDR": addr}), where)
	if again != banner {
		t.Errorf("the banner changed across a restart:\n%s\n---\n%s", banner, again)
	}
	list := call(t, "GET", "http://"+addr+"/v1/orgs", token, nil, http.StatusOK)
	if b, _ := json.Marshal(list); !strings.Contains(string(b), `"id":"`+org.(string)+`"`) {
		t.Errorf("organisation %s is gone after a restart: %s", org, b)
	}
	stop()
	stopped(t, pgAddr, clusterDir)
}

// startDev starts cmekd in dev mode with cfg and returns its banner and how to stop it as Ctrl-C does.
func startDev(t *testing.T, cfg config.Config, where DevPostgres) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	srv, err := New(ctx, cfg, Options{Logger: slog.New(slog.DiscardHandler), DevOutput: &out, DevPostgres: where})
	if err != nil {
		cancel()
		t.Fatalf("dev mode: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		srv.Close()
	}
	t.Cleanup(stop)
	return out.String(), stop
}

// stopped fails the test unless the private cluster at addr in dir has stopped.
func stopped(t *testing.T, addr, dir string) {
	t.Helper()
	if answers(addr) {
		t.Errorf("the private cluster still answers at %s after cmekd stopped", addr)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
		t.Errorf("the private cluster in %s still runs after cmekd stopped", dir)
	}
}

// exported is the value of `export name=value` in a banner.
func exported(t *testing.T, banner, name string) string {
	t.Helper()
	m := regexp.MustCompile(`export ` + name + `=(\S+)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("the banner exports no %s:\n%s", name, banner)
	}
	return m[1]
}

// call sends an API request with the admin token and decodes the answer, which must have status want.
func call(t *testing.T, method, url, token string, body any, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, url, resp.StatusCode, want, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, raw)
	}
	return out
}

// TestDevDatabase_AutoUsesTheServerThatAnswers: auto takes CMEKD_DATABASE_URL as it is when it is set
// (whether or not anything answers there), and the default when the default address answers.
func TestDevDatabase_AutoUsesTheServerThatAnswers(t *testing.T) {
	t.Parallel()
	const defaultURL = "postgres://postgres@127.0.0.1:5432/cmekd?sslmode=disable"
	given := "postgres://me:hunter2@" + closedAddr(t) + "/mine?sslmode=disable"
	// No binaries anywhere: choosing a private cluster would fail.
	where := DevPostgres{BinDirs: []string{t.TempDir()}}
	cfg := devConfig(t, map[string]string{"CMEKD_DATABASE_URL": given})
	db, err := devDatabase(&cfg, where, slog.New(slog.DiscardHandler))
	if err != nil || cfg.DatabaseURL != given {
		t.Fatalf("auto with CMEKD_DATABASE_URL set: %v, database %s", err, cfg.DatabaseURL)
	}
	if strings.Contains(db.banner, "hunter2") || !strings.Contains(db.banner, "/mine") {
		t.Errorf("the banner's database is %q: want the URL without its password", db.banner)
	}
	if !answers("127.0.0.1:5432") {
		t.Skip("nothing answers at 127.0.0.1:5432, CMEKD_DATABASE_URL's default: no shared server to pick")
	}
	cfg = devConfig(t, map[string]string{})
	if db, err = devDatabase(&cfg, where, slog.New(slog.DiscardHandler)); err != nil || cfg.DatabaseURL != defaultURL || db.banner != defaultURL {
		t.Fatalf("auto with the default answering: %v, database %s, banner %q", err, cfg.DatabaseURL, db.banner)
	}
}

// TestNew_DevModeWithoutPostgreSQLSaysWhatToInstall: where dev mode wants a private cluster (told so,
// or by auto with nothing at the default address) and no server binaries exist, it fails naming the
// packages to install and prints nothing.
func TestNew_DevModeWithoutPostgreSQLSaysWhatToInstall(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	rootDir, err := os.MkdirTemp("", "cmekd-devpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rootDir) })
	defaultAddr := closedAddr(t)
	where := DevPostgres{BinDirs: []string{t.TempDir()}, DefaultAddr: defaultAddr, RootDir: rootDir}
	for _, mode := range []string{"auto", "private"} {
		t.Run(mode, func(t *testing.T) {
			cfg := devConfig(t, map[string]string{"CMEKD_DEV_POSTGRES": mode, "CMEKD_ADDR": closedAddr(t)})
			var out bytes.Buffer
			_, err := New(t.Context(), cfg, Options{Logger: slog.New(slog.DiscardHandler), DevOutput: &out, DevPostgres: where})
			if err == nil {
				t.Fatal("New without PostgreSQL answered no error")
			}
			for _, want := range []string{"apt install postgresql", "dnf install postgresql-server", "brew install postgresql@15", "initdb"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, err)
				}
			}
			if mode == "auto" && !strings.Contains(err.Error(), defaultAddr) {
				t.Errorf("the error does not say where nothing answered (%s): %v", defaultAddr, err)
			}
			if out.Len() != 0 {
				t.Errorf("dev mode printed without a database:\n%s", out.String())
			}
		})
	}
}

func TestWithoutPassword(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://postgres@127.0.0.1:5432/cmekd?sslmode=disable":            "postgres://postgres@127.0.0.1:5432/cmekd?sslmode=disable",
		"postgres://me:s3cret@db.internal/cmekd":                              "postgres://me@db.internal/cmekd",
		"postgres://me@db.internal/cmekd?password=s3cret&sslmode=verify-full": "postgres://me@db.internal/cmekd?sslmode=verify-full",
	} {
		if got := withoutPassword(in); got != want {
			t.Errorf("withoutPassword(%q) = %q, want %q", in, got, want)
		}
	}
}
