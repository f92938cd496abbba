package server

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/cmekd/cmekd/internal/config"
)

// TestDevMode_KeepsItsKeysAcrossRestarts: a second start finds the keys of the first (SPEC §16).
func TestDevMode_KeepsItsKeysAcrossRestarts(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // os.UserCacheDir, where dev mode keeps the emulator's state
	log := slog.New(slog.DiscardHandler)
	start := func() (config.Config, string) {
		cfg := config.Config{DatabaseURL: "postgres://postgres@127.0.0.1:5432/cmekd_devtest?sslmode=disable", Addr: ":8080", Dev: true,
			Regions: []string{"us-west-2"}}
		var out bytes.Buffer
		_, stop, err := devMode(t.Context(), &cfg, log, &out)
		if err != nil {
			t.Fatalf("devMode: %v", err)
		}
		stop()
		return cfg, out.String()
	}
	first, banner := start()
	again, _ := start()
	if first.ProviderKeyARN == "" || again.ProviderKeyARN != first.ProviderKeyARN {
		t.Errorf("provider key %q, then %q after a restart", first.ProviderKeyARN, again.ProviderKeyARN)
	}
	state := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "cmekd", "cmekd_devtest.kms-state.json")
	if _, err := os.Stat(state); err != nil || !bytes.Contains([]byte(banner), []byte(state)) {
		t.Errorf("state file %s: %v; banner:\n%s", state, err, banner)
	}
}
