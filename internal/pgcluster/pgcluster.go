// Package pgcluster runs a private PostgreSQL server from the server binaries (initdb, pg_ctl): a data
// directory initialised once, started on a loopback port with a unix socket directory of its own, and
// stopped. Tests use it for database outages without touching the shared server; dev mode uses it on
// a machine with PostgreSQL installed but no server running.
package pgcluster

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoBinaries is FindBinaries' answer where no directory holds both initdb and pg_ctl.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries (initdb and pg_ctl)")

// ErrNoPostgresUser is Prepare's answer when this process is root and there is no postgres user to
// run the server as (PostgreSQL refuses to run as root).
var ErrNoPostgresUser = errors.New("running as root without a postgres user to run PostgreSQL as (it refuses to run as root)")

// SearchDirs is where FindBinaries looks unless told: PATH's directories, then the versioned
// directories that packages do not put in PATH, newest version first: /usr/lib/postgresql/<version>/bin
// (Debian, Ubuntu) and Homebrew's postgresql@<version>, which is keg-only.
func SearchDirs() []string {
	dirs := filepath.SplitList(os.Getenv("PATH"))
	var versioned []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/opt/homebrew/opt/postgresql@*/bin", "/usr/local/opt/postgresql@*/bin"} {
		found, _ := filepath.Glob(pattern)
		versioned = append(versioned, found...)
	}
	// By version number, not by name: 9.6 is older than 10.
	slices.SortStableFunc(versioned, func(a, b string) int { return compareVersions(versionOf(b), versionOf(a)) })
	return append(dirs, versioned...)
}

// versionOf is the <version> of .../<version>/bin or .../postgresql@<version>/bin.
func versionOf(binDir string) string {
	name := filepath.Base(filepath.Dir(binDir))
	return name[strings.LastIndex(name, "@")+1:]
}

// compareVersions orders dotted version numbers numerically.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// FindBinaries returns the first of dirs holding both initdb and pg_ctl; with major set (a data
// directory's PG_VERSION, like "15"), the first whose pg_ctl is of that major version, since a data
// directory runs only under the major version that made it.
func FindBinaries(dirs []string, major string) (string, error) {
	var found []string
	for _, d := range dirs {
		if d == "" || !executable(filepath.Join(d, "initdb")) || !executable(filepath.Join(d, "pg_ctl")) {
			continue
		}
		if major == "" || binariesMajor(d) == major {
			return d, nil
		}
		found = append(found, d)
	}
	if len(found) > 0 {
		return "", fmt.Errorf("PostgreSQL %s's server binaries: only %s found (of version %s)", major, strings.Join(found, ", "), binariesMajor(found[0]))
	}
	return "", ErrNoBinaries
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// binariesMajor is the major version of the pg_ctl in dir ("15", or "9.6" before version 10).
func binariesMajor(dir string) string {
	out, err := exec.Command(filepath.Join(dir, "pg_ctl"), "--version").Output()
	if err != nil {
		return ""
	}
	// "pg_ctl (PostgreSQL) 15.5 (Debian 15.5-0+deb12u1)"
	fields := strings.Fields(string(out))
	if len(fields) < 3 {
		return ""
	}
	v := strings.Split(fields[2], ".")
	if n, _ := strconv.Atoi(v[0]); n < 10 && len(v) > 1 {
		return v[0] + "." + v[1]
	}
	return v[0]
}

// Cluster is a private PostgreSQL cluster in Dir: its data directory Dir/data, its unix socket
// directory Dir/run and its server log Dir/log. It listens on 127.0.0.1 only, with trust
// authentication for the superuser postgres.
type Cluster struct {
	// Bin is the directory of initdb and pg_ctl.
	Bin string
	// Dir holds everything of the cluster.
	Dir string
	// Port is the loopback port the server listens on.
	Port int
	// Fast trades durability for speed (no fsync at initdb or after): for throwaway clusters.
	Fast bool
	// Settings are server settings (name=value, as postgres -c takes them) given at every start:
	// shared_buffers sized for a workload, say.
	Settings []string
	// runAs is the user who runs initdb and pg_ctl: "postgres" when this process is root, else ""
	// (this process's user).
	runAs string
}

// Prepare makes dir (and, as root, hands it to the postgres user) and returns the cluster in it,
// not yet initialised. dir's parents must be traversable by that user.
func Prepare(bin, dir string, port int) (*Cluster, error) {
	c := &Cluster{Bin: bin, Dir: dir, Port: port}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if !IsRoot() {
		return c, nil
	}
	uid, gid, err := PostgresUser()
	if err != nil {
		return nil, err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	c.runAs = "postgres"
	return c, nil
}

// IsRoot reports whether this process runs as root, where PostgreSQL must run as another user.
func IsRoot() bool { return os.Geteuid() == 0 }

// PostgresUser is the postgres user's uid and gid.
func PostgresUser() (uid, gid int, err error) {
	pg, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, ErrNoPostgresUser
	}
	uid, _ = strconv.Atoi(pg.Uid)
	gid, _ = strconv.Atoi(pg.Gid)
	return uid, gid, nil
}

// DataDir is the cluster's data directory (PGDATA).
func (c *Cluster) DataDir() string { return filepath.Join(c.Dir, "data") }

// Version is the major version that initialised the data directory ("15"), or "" before Init.
func (c *Cluster) Version() string {
	b, err := os.ReadFile(filepath.Join(c.DataDir(), "PG_VERSION"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Init initialises the data directory: superuser postgres, trusted on every connection (the server
// listens on loopback and a private socket directory only), UTF-8.
func (c *Cluster) Init() error {
	args := []string{"-D", c.DataDir(), "-U", "postgres", "--auth=trust", "-E", "UTF8"}
	if c.Fast {
		args = append(args, "--no-sync")
	}
	return c.run("initdb", args...)
}

// Start starts the server on 127.0.0.1:Port and waits until it accepts connections.
func (c *Cluster) Start() error {
	sockets := filepath.Join(c.Dir, "run")
	if err := os.MkdirAll(sockets, 0o700); err != nil {
		return err
	}
	if c.runAs != "" {
		uid, gid, err := PostgresUser()
		if err != nil {
			return err
		}
		if err := os.Chown(sockets, uid, gid); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", c.Port, sockets)
	if c.Fast {
		opts += " -c fsync=off"
	}
	for _, setting := range c.Settings {
		opts += " -c " + setting
	}
	return c.run("pg_ctl", "-D", c.DataDir(), "start", "-w", "-l", filepath.Join(c.Dir, "log"), "-o", opts)
}

// Stop stops the server and waits until it has: mode "fast" rolls back open transactions and
// disconnects; "immediate" drops everything at once, as a crash would.
func (c *Cluster) Stop(mode string) error {
	return c.run("pg_ctl", "-D", c.DataDir(), "stop", "-w", "-m", mode)
}

// Running reports whether a server runs on the data directory, and on which port (from its
// postmaster.pid, which may be an earlier process's that was never stopped).
func (c *Cluster) Running() (port int, ok bool) {
	if c.command("pg_ctl", "-D", c.DataDir(), "status").Run() != nil {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(c.DataDir(), "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	// Line 4 of postmaster.pid is the port.
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	port, err = strconv.Atoi(strings.TrimSpace(lines[3]))
	return port, err == nil
}

// URL is the cluster's database name as a URL for the superuser postgres over loopback TCP.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, database)
}

// run runs a PostgreSQL binary; its error carries the binary's output.
func (c *Cluster) run(name string, args ...string) error {
	if out, err := c.command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// command is a PostgreSQL binary's command, run as the postgres user when this process is root.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.Bin, name)
	if c.runAs != "" {
		return exec.Command("runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// FreePort is a loopback port nothing listens on at the moment.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// PortFree reports whether nothing listens on the loopback port.
func PortFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
