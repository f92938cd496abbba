package pgcluster

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestCompareVersions_Numerically(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		sign int
	}{{"10", "9.6", 1}, {"9.6", "15", -1}, {"15", "15", 0}, {"16", "15", 1}, {"9.6", "9.5", 1}} {
		if got := compareVersions(tc.a, tc.b); got*tc.sign < 0 || (tc.sign == 0) != (got == 0) {
			t.Errorf("compareVersions(%s, %s) = %d, want the sign of %d", tc.a, tc.b, got, tc.sign)
		}
	}
}

func TestVersionOf_DebianAndHomebrewDirectories(t *testing.T) {
	t.Parallel()
	for dir, want := range map[string]string{"/usr/lib/postgresql/15/bin": "15", "/opt/homebrew/opt/postgresql@16/bin": "16", "/usr/lib/postgresql/9.6/bin": "9.6"} {
		if got := versionOf(dir); got != want {
			t.Errorf("versionOf(%s) = %s, want %s", dir, got, want)
		}
	}
}

// TestFindBinaries_NoneWhereNoneAre: a directory without initdb and pg_ctl is no answer.
func TestFindBinaries_NoneWhereNoneAre(t *testing.T) {
	t.Parallel()
	if _, err := FindBinaries([]string{t.TempDir(), ""}, ""); err != ErrNoBinaries {
		t.Fatalf("FindBinaries(empty dir) = %v, want ErrNoBinaries", err)
	}
}

// TestCluster_InitStartRunningStop: one cluster's life, and a data directory's version that only
// binaries of that version may run.
func TestCluster_InitStartRunningStop(t *testing.T) {
	t.Parallel()
	bin, err := FindBinaries(SearchDirs(), "")
	if err != nil {
		t.Skip("no PostgreSQL server binaries (initdb, pg_ctl) in PATH or /usr/lib/postgresql/*/bin")
	}
	dir, err := os.MkdirTemp("", "cmekd-pgcluster-") // traversable by the postgres user, unlike t.TempDir
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Prepare(bin, dir, port)
	if err == ErrNoPostgresUser {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.Fast = true
	if err := c.Init(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop("immediate") })
	if got, ok := c.Running(); !ok || got != port {
		t.Errorf("Running() = %d, %v; want %d, true", got, ok, port)
	}
	conn, err := pgx.Connect(context.Background(), c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	if _, err := FindBinaries([]string{bin}, c.Version()); err != nil {
		t.Errorf("the binaries that made the data directory do not run it: %v", err)
	}
	if _, err := FindBinaries([]string{bin}, "9.4"); err == nil {
		t.Error("binaries of another version were found for a 9.4 data directory")
	}
	if err := c.Stop("fast"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Running(); ok || PortFree(port) == false {
		t.Errorf("the cluster still runs after Stop")
	}
}
