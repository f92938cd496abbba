package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/pgcluster"
)

// DevPostgres is where dev mode looks for PostgreSQL; the zero value is this machine's usual places.
type DevPostgres struct {
	// DefaultAddr replaces the host:port of CMEKD_DATABASE_URL's default, the address that
	// CMEKD_DEV_POSTGRES=auto probes; "" keeps the default's.
	DefaultAddr string
	// BinDirs are where initdb and pg_ctl are looked for; nil means PATH, then
	// /usr/lib/postgresql/<version>/bin, newest version first.
	BinDirs []string
	// RootDir holds the private cluster when cmekd runs as root; "" means /var/tmp/cmekd-dev-<uid>.
	RootDir string
}

// devInstall says how to install PostgreSQL's server binaries on the usual systems.
const devInstall = "install them (Debian, Ubuntu: apt install postgresql; Fedora: dnf install postgresql-server; macOS: brew install postgresql@15)"

// devDB is the database dev mode settled on: what its banner says of it, and how to stop what dev
// mode started for it.
type devDB struct {
	banner string
	stop   func()
}

// devDatabase settles which PostgreSQL dev mode uses (CMEKD_DEV_POSTGRES) and, for a private cluster,
// starts it and points cfg.DatabaseURL at it. It prints nothing, so that a machine without PostgreSQL
// hears why before anything else.
func devDatabase(cfg *config.Config, where DevPostgres, log *slog.Logger) (devDB, error) {
	switch cfg.DevPostgres {
	case "private":
		return devPrivateCluster(cfg, where, "CMEKD_DEV_POSTGRES is private", log)
	case "auto":
		if cfg.DatabaseURLSet {
			break
		}
		addr := where.DefaultAddr
		if addr == "" {
			addr = databaseAddr(cfg.DatabaseURL)
		}
		if !answers(addr) {
			return devPrivateCluster(cfg, where, "no CMEKD_DATABASE_URL is set and nothing answers at its default address, "+addr, log)
		}
	}
	return devDB{banner: withoutPassword(cfg.DatabaseURL), stop: func() {}}, nil
}

// devPrivateCluster starts dev mode's own PostgreSQL cluster (initialised on the first start, on the
// port of the last start when it is free) and points cfg.DatabaseURL at its database of the default
// URL's name. A cluster an earlier start left running (killed before it could stop it) is taken over.
// why is why dev mode wants one, for the message where it cannot have one.
func devPrivateCluster(cfg *config.Config, where DevPostgres, why string, log *slog.Logger) (devDB, error) {
	dir, err := devClusterDir(where.RootDir)
	if err != nil {
		return devDB{}, fmt.Errorf("dev mode: private PostgreSQL cluster: %w", err)
	}
	dirs := where.BinDirs
	if dirs == nil {
		dirs = pgcluster.SearchDirs()
	}
	version := (&pgcluster.Cluster{Dir: dir}).Version()
	bin, err := pgcluster.FindBinaries(dirs, version)
	if errors.Is(err, pgcluster.ErrNoBinaries) {
		return devDB{}, fmt.Errorf("dev mode: %s, and PostgreSQL's server binaries (initdb, pg_ctl) are not installed (looked in PATH, /usr/lib/postgresql/*/bin and Homebrew's postgresql@*), "+
			"so dev mode cannot start a PostgreSQL cluster of its own: %s, or set CMEKD_DATABASE_URL to a PostgreSQL server", why, devInstall)
	}
	if err != nil {
		return devDB{}, fmt.Errorf("dev mode: the private PostgreSQL cluster in %s was made by PostgreSQL %s: %w; install that version's server, or remove %s to start afresh",
			dir, version, err, dir)
	}
	portFile := filepath.Join(dir, "port")
	port, _ := strconv.Atoi(strings.TrimSpace(readFile(portFile)))
	c, err := pgcluster.Prepare(bin, dir, port)
	if err != nil {
		return devDB{}, fmt.Errorf("dev mode: private PostgreSQL cluster in %s: %w", dir, err)
	}
	if running, ok := c.Running(); ok {
		c.Port = running
		log.Info("dev mode: taking over the private PostgreSQL cluster an earlier start left running", "dir", dir, "port", running)
	} else {
		if version == "" {
			if err := c.Init(); err != nil {
				return devDB{}, fmt.Errorf("dev mode: initialise a private PostgreSQL cluster in %s: %w", dir, err)
			}
		}
		if c.Port == 0 || !pgcluster.PortFree(c.Port) {
			if c.Port, err = pgcluster.FreePort(); err != nil {
				return devDB{}, fmt.Errorf("dev mode: private PostgreSQL cluster: %w", err)
			}
		}
		if err := c.Start(); err != nil {
			return devDB{}, fmt.Errorf("dev mode: start the private PostgreSQL cluster in %s (its log is %s): %w", dir, filepath.Join(dir, "log"), err)
		}
	}
	_ = os.WriteFile(portFile, []byte(strconv.Itoa(c.Port)+"\n"), 0o600) // a different port next time is only less tidy
	name := "cmekd"
	if pc, err := pgconn.ParseConfig(cfg.DatabaseURL); err == nil && pc.Database != "" {
		name = pc.Database
	}
	cfg.DatabaseURL = c.URL(name)
	return devDB{
		banner: fmt.Sprintf("%s in a private PostgreSQL cluster at 127.0.0.1:%d (kept in %s; it stops when cmekd does)", name, c.Port, dir),
		stop: func() {
			if err := c.Stop("fast"); err != nil {
				log.Error("dev mode: stop the private PostgreSQL cluster", "dir", dir, "error", err)
			}
		},
	}, nil
}

// devClusterDir is where dev mode keeps its PostgreSQL cluster: <user cache dir>/cmekd/postgres, or
// as root, whose cache directory the postgres user that runs the server cannot enter,
// <rootDir>/postgres in a rootDir that only postgres (and root) may enter.
func devClusterDir(rootDir string) (string, error) {
	if !pgcluster.IsRoot() {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(cache, "cmekd", "postgres"), nil
	}
	uid, gid, err := pgcluster.PostgresUser()
	if err != nil {
		return "", err
	}
	if rootDir == "" {
		rootDir = fmt.Sprintf("/var/tmp/cmekd-dev-%d", os.Geteuid())
	}
	if err := os.Mkdir(rootDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	// /var/tmp is everyone's: a directory there that another user made, or a link, is not trusted
	// with a server root starts.
	fi, err := os.Lstat(rootDir)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || (st.Uid != 0 && int(st.Uid) != uid) {
		return "", fmt.Errorf("%s is not a directory of root's or the postgres user's: remove it", rootDir)
	}
	if err := os.Chown(rootDir, uid, gid); err != nil {
		return "", err
	}
	if err := os.Chmod(rootDir, 0o700); err != nil {
		return "", err
	}
	return filepath.Join(rootDir, "postgres"), nil
}

// databaseAddr is the host:port of a PostgreSQL URL.
func databaseAddr(databaseURL string) string {
	pc, err := pgconn.ParseConfig(databaseURL)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port)))
}

// answers reports whether something accepts TCP connections at addr.
func answers(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// withoutPassword is a database URL fit to print: any password gone, from the user part and the query.
func withoutPassword(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "(a URL that does not parse)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
