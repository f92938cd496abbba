package testkit

import (
	"errors"
	"os"
	"testing"

	"github.com/cmekd/cmekd/internal/pgcluster"
)

// Cluster is a private PostgreSQL server of one test, on a free loopback port, that the test may stop
// and start again: a database outage without touching the server other tests share.
type Cluster struct {
	t testing.TB
	c *pgcluster.Cluster
	// URL is the cluster's "postgres" database.
	URL string
}

// NewCluster initialises and starts a private cluster in a temporary directory (run as the postgres
// user when the test runs as root, since PostgreSQL refuses to run as root). It skips the test,
// saying why, where PostgreSQL's server binaries are not installed.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	return newCluster(t, true)
}

// NewTunedCluster is NewCluster with durability kept (fsync as a real deployment has it) and the
// server settings given (name=value): a cluster sized for what a benchmark measures.
func NewTunedCluster(t testing.TB, settings ...string) *Cluster {
	t.Helper()
	return newCluster(t, false, settings...)
}

func newCluster(t testing.TB, fast bool, settings ...string) *Cluster {
	t.Helper()
	bin, err := pgcluster.FindBinaries(pgcluster.SearchDirs(), "")
	if err != nil {
		t.Skip("cannot start a private cluster: no PostgreSQL server binaries (initdb, pg_ctl) in PATH or /usr/lib/postgresql/*/bin")
	}
	// Not t.TempDir: its parent is private to this process's user, and the server may run as postgres.
	dir, err := os.MkdirTemp("", "cmekd-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := pgcluster.Prepare(bin, dir, port)
	if errors.Is(err, pgcluster.ErrNoPostgresUser) {
		t.Skip("cannot start a private cluster: ", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	pc.Fast, pc.Settings = fast, settings
	if err := pc.Init(); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, c: pc, URL: pc.URL("postgres")}
	c.Start()
	t.Cleanup(func() { _ = pc.Stop("immediate") })
	return c
}

// Start starts the cluster and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	if err := c.c.Start(); err != nil {
		c.t.Fatal(err)
	}
}

// Stop stops the cluster at once, dropping every connection.
func (c *Cluster) Stop() {
	c.t.Helper()
	if err := c.c.Stop("immediate"); err != nil {
		c.t.Fatal(err)
	}
}

// Database is the URL of a database named name on the cluster; store.Open creates it. The cluster
// goes, and its databases with it, when the test ends.
func (c *Cluster) Database(t testing.TB, name string) string {
	t.Helper()
	u, err := withDatabase(c.URL, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
