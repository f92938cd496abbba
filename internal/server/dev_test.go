package server

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// devStart prepares dev mode as a start of the server would, prints its banner, and stops it.
func devStart(t *testing.T) (config.Config, string) {
	t.Helper()
	cfg := config.Config{DatabaseURL: "postgres://postgres@127.0.0.1:5432/cmekd_devtest?sslmode=disable", Addr: ":8080", Dev: true,
		Regions: []string{"us-west-2"}}
	env, err := devMode(t.Context(), &cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("devMode: %v", err)
	}
	defer env.stop()
	var out bytes.Buffer
	env.banner(&out)
	return cfg, out.String()
}

// TestDevMode_KeepsItsKeysAcrossRestarts: a second start finds the keys of the first.
func TestDevMode_KeepsItsKeysAcrossRestarts(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // os.UserCacheDir, where dev mode keeps the emulator's state
	first, banner := devStart(t)
	again, _ := devStart(t)
	if first.ProviderKeyARN == "" || again.ProviderKeyARN != first.ProviderKeyARN {
		t.Errorf("provider key %q, then %q after a restart", first.ProviderKeyARN, again.ProviderKeyARN)
	}
	state := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "cmekd", "cmekd_devtest.kms-state.json")
	if _, err := os.Stat(state); err != nil || !strings.Contains(banner, state) {
		t.Errorf("state file %s: %v; banner:\n%s", state, err, banner)
	}
}

// TestDevMode_PastedExportsSurviveARestart: the admin token and the emulator's address printed by one
// start are those of the next, so the exports a developer pasted keep working; they come last.
func TestDevMode_PastedExportsSurviveARestart(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	first, banner := devStart(t)
	again, bannerAgain := devStart(t)
	if first.AdminToken == "" || again.AdminToken != first.AdminToken {
		t.Errorf("admin token changed across a restart")
	}
	if first.KMSEndpoint == "" || again.KMSEndpoint != first.KMSEndpoint {
		t.Errorf("emulator at %s, then %s after a restart", first.KMSEndpoint, again.KMSEndpoint)
	}
	if banner != bannerAgain {
		t.Errorf("the banner changed across a restart:\n%s\n---\n%s", banner, bannerAgain)
	}
	lines := strings.Split(strings.TrimSpace(banner), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "export CMEKD_DEV_KMS=") {
		t.Errorf("the banner's last line is %q, want the exports last", last)
	}
}

// TestNew_DevModePrintsNothingUntilTheDatabaseAnswers: with no database at the address, dev mode
// fails before printing a banner or exports, and keeps no token behind.
func TestNew_DevModePrintsNothingUntilTheDatabaseAnswers(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	closed := testkit.FreeAddr(t)
	cfg, err := config.Load(map[string]string{"CMEKD_DEV": "1", "CMEKD_ADDR": "127.0.0.1:0",
		"CMEKD_DATABASE_URL": "postgres://postgres@" + closed + "/cmekd_devtest?sslmode=disable&connect_timeout=2"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := New(t.Context(), cfg, Options{Logger: slog.New(slog.DiscardHandler), DevOutput: &out}); err == nil {
		t.Fatal("New with no database answered no error")
	}
	if out.Len() != 0 {
		t.Errorf("dev mode printed before the database answered:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(cache, "cmekd", "cmekd_devtest.dev.json")); err == nil {
		t.Error("a failed start kept an admin token on disk")
	}
}
