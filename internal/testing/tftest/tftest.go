// Package tftest runs the terraform CLI in tests, offline: providers come from the machine's
// mirror of the AWS provider, or from a binary built by the test (dev_overrides), never from a
// registry; no setting or credential of the machine's leaks in.
package tftest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Mirror is where the machine keeps the AWS provider for offline use.
const Mirror = "/opt/tf-plugins"

// Terraform runs the terraform binary with an environment of its own.
type Terraform struct {
	bin string
	env []string
}

// Options shape the CLI configuration Find writes.
type Options struct {
	// DevOverrides maps provider source addresses to directories holding their built binaries.
	DevOverrides map[string]string
	// Env adds variables (e.g. a provider's own CMEKD_URL) to every run.
	Env map[string]string
}

// Find skips the test unless terraform and the AWS provider mirror are on the machine, and returns
// a runner with a fresh home, plugin cache and CLI configuration.
func Find(t testing.TB, opts Options) *Terraform {
	t.Helper()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not installed (not on PATH); Terraform tests need it and the AWS provider in " + Mirror)
	}
	if _, err := os.Stat(filepath.Join(Mirror, "registry.terraform.io", "hashicorp", "aws")); err != nil {
		t.Skip("no AWS provider in the mirror " + Mirror + " (registry.terraform.io/hashicorp/aws); Terraform tests run offline from it")
	}
	dir := t.TempDir()
	var overrides strings.Builder
	if len(opts.DevOverrides) > 0 {
		overrides.WriteString("  dev_overrides {\n")
		for _, addr := range sortedKeys(opts.DevOverrides) {
			fmt.Fprintf(&overrides, "    %q = %q\n", addr, opts.DevOverrides[addr])
		}
		overrides.WriteString("  }\n")
	}
	rc := writeFile(t, dir, "terraformrc", `provider_installation {
`+overrides.String()+`  filesystem_mirror {
    path = "`+Mirror+`"
  }
  direct {
    exclude = ["*/*"]
  }
}
`)
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") || strings.HasPrefix(name, "TF_") || strings.HasPrefix(name, "CMEKD_") || name == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	cache := filepath.Join(dir, "plugin-cache")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	env = append(env,
		"HOME="+dir,
		"TF_CLI_CONFIG_FILE="+rc,
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"TF_DATA_DIR="+filepath.Join(dir, "data"),
		"TF_PLUGIN_CACHE_DIR="+cache,
		"CHECKPOINT_DISABLE=1", // no version check against checkpoint-api.hashicorp.com
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+writeFile(t, dir, "aws-config", ""),
		"AWS_SHARED_CREDENTIALS_FILE="+writeFile(t, dir, "aws-credentials", ""),
		"NO_PROXY=127.0.0.1",
	)
	for _, name := range sortedKeys(opts.Env) {
		env = append(env, name+"="+opts.Env[name])
	}
	return &Terraform{bin: bin, env: env}
}

// Run runs terraform in dir and returns its output and exit status; any status but 0 and, for
// plan -detailed-exitcode, 2 (changes) fails the test.
func (tf *Terraform) Run(t testing.TB, dir string, args ...string) (string, int) {
	t.Helper()
	out, code := tf.Exec(t, dir, args...)
	if code != 0 && !(code == 2 && args[0] == "plan") {
		t.Fatalf("terraform %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out, code
}

// Output runs a terraform command that must succeed and returns its stdout alone.
func (tf *Terraform) Output(t testing.TB, dir string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tf.bin, args...)
	cmd.Dir, cmd.Env = dir, tf.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// Exec runs terraform in dir (with -no-color) and returns its combined output and exit status,
// whatever the status.
func (tf *Terraform) Exec(t testing.TB, dir string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// -no-color follows the command: "plan", or "state rm".
	n := 1
	if args[0] == "state" && len(args) > 1 {
		n = 2
	}
	cmd := exec.CommandContext(ctx, tf.bin, append(args[:n:n], append([]string{"-no-color"}, args[n:]...)...)...)
	cmd.Dir, cmd.Env = dir, tf.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if testing.Verbose() { // -v shows terraform at work, which a hanging step needs
		fmt.Fprintf(os.Stderr, "--- terraform %s\n", strings.Join(args, " "))
		cmd.Stdout = io.MultiWriter(&out, os.Stderr)
		cmd.Stderr = cmd.Stdout
	}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	}
	t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out.String())
	return "", 0
}

// BuildProvider builds the Go package pkg (e.g. ./cmd/terraform-provider-x, relative to the test's
// directory) as name into a fresh directory, and returns the directory, for DevOverrides.
func BuildProvider(t testing.TB, pkg, name string) string {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test puts its own go first on PATH
	if err != nil {
		t.Fatalf("building %s: %v", pkg, err)
	}
	dir := t.TempDir()
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(dir, name), pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return dir
}

// AWSProvider is the configuration of an AWS provider (with alias, when not "") that reaches the
// services (kms, sts, …) at endpoint, an emulator, in region as accessKey: the emulator checks no
// signature, and nothing is asked of AWS itself.
func AWSProvider(alias, region, accessKey, endpoint string, services ...string) string {
	var b strings.Builder
	b.WriteString("provider \"aws\" {\n")
	if alias != "" {
		fmt.Fprintf(&b, "  alias                       = %q\n", alias)
	}
	fmt.Fprintf(&b, `  region                      = %q
  access_key                  = %q
  secret_key                  = "emulator-ignores-the-signature"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  skip_requesting_account_id  = true
  endpoints {
`, region, accessKey)
	for _, svc := range services {
		fmt.Fprintf(&b, "    %s = %q\n", svc, endpoint)
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

// WriteFile writes text to dir/name and returns the path.
func WriteFile(t testing.TB, dir, name, text string) string { return writeFile(t, dir, name, text) }

func writeFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
