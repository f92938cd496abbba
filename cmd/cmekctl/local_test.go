package main

import (
	"encoding/json"
	"runtime"
	"testing"
)

// The stamp TestMain builds cmekctl with, as make build would.
const (
	versionPkg   = "github.com/cmekd/cmekd/internal/version"
	stampVersion = "v1.2.3-test"
	stampCommit  = "0123456789abcdef0123456789abcdef01234567"
	stampDate    = "2026-01-02T03:04:05Z"
)

func TestVersion_PrintsTheStampWithoutAServer(t *testing.T) {
	t.Parallel()
	want := "cmekctl v1.2.3-test (commit " + stampCommit + ", built " + stampDate + ", " + runtime.Version() + ")\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		r := cli(t, nil, "", args...)
		if r.code != 0 || r.stdout != want {
			t.Errorf("cmekctl %v: exit %d, %q (stderr %q), want %q", args, r.code, r.stdout, r.stderr, want)
		}
	}
	r := cli(t, nil, "", "version", "-o", "json")
	var got map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got["version"] != stampVersion ||
		got["commit"] != stampCommit || got["date"] != stampDate || got["goversion"] != runtime.Version() {
		t.Errorf("cmekctl version -o json: exit %d, %q", r.code, r.stdout)
	}
}
