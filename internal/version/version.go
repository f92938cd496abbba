// Package version says which build of cmekd's binaries is running: its version, commit and build
// date. `make build` stamps them with -ldflags -X; a plain `go build` or `go install` falls back on
// what Go recorded in the binary (the main module's version, vcs.revision and vcs.time).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Stamped at build time (make build): -ldflags "-X github.com/cmekd/cmekd/internal/version.Version=…".
var (
	// Version is the release, e.g. v1.4.0 or v1.4.0-3-gabc1234-dirty (git describe).
	Version string
	// Commit is the full commit hash the binary was built from.
	Commit string
	// Date is when the binary was built, RFC 3339 in UTC.
	Date string
)

// Info is one build's identity.
type Info struct {
	Version, Commit, Date, GoVersion string
}

// Get returns the stamped values, else what the build info holds, else "unknown".
func Get() Info {
	info := Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info = fromBuildInfo(info, bi)
	}
	for _, f := range []*string{&info.Version, &info.Commit, &info.Date} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return info
}

// fromBuildInfo fills what the stamp left empty from Go's record of the build; a commit taken from
// the record is marked -dirty when the work tree had changes.
func fromBuildInfo(info Info, bi *debug.BuildInfo) Info {
	if info.Version == "" {
		info.Version = bi.Main.Version // "(devel)" for a build from a checkout
	}
	var revision, modified string
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			revision = kv.Value
		case "vcs.time":
			if info.Date == "" {
				info.Date = kv.Value
			}
		case "vcs.modified":
			modified = kv.Value
		}
	}
	if info.Commit == "" && revision != "" {
		info.Commit = revision
		if modified == "true" {
			info.Commit += "-dirty"
		}
	}
	return info
}

// String is the one line the binaries print: "v1.4.0 (commit 0a1b2c…, built 2026-01-02T03:04:05Z, go1.26.8)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, built %s, %s)", i.Version, i.Commit, i.Date, i.GoVersion)
}

// Collector is the cmekd_build_info gauge: always 1, the build's identity in its labels.
func Collector() prometheus.Collector {
	i := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cmekd_build_info",
		Help: "The running build: version, commit, build date and Go version as labels; always 1.",
		ConstLabels: prometheus.Labels{"version": i.Version, "commit": i.Commit, "date": i.Date,
			"goversion": i.GoVersion},
	})
	g.Set(1)
	return g
}
