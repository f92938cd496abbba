package client_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGenerated_IsCurrent fails when client.gen.go is not what `make generate` makes of
// openapi/openapi.yaml today.
func TestGenerated_IsCurrent(t *testing.T) {
	t.Parallel()
	// go test puts its own go first on the PATH of the tests it runs.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	// The same configuration, writing elsewhere: oapi-codegen takes the output path from it.
	conf, err := os.ReadFile("oapi-codegen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "client.gen.go")
	conf = bytes.Replace(conf, []byte("output: client.gen.go"), []byte("output: "+out), 1)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), conf, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "tool", "oapi-codegen", "-config", filepath.Join(dir, "config.yaml"), "../openapi/openapi.yaml")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, b)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("client/client.gen.go is stale: run `make generate` and commit the result")
	}
}
