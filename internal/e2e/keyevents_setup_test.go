package e2e_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLIv2 finds the AWS CLI v2 (a v1 shim may come first on PATH), or skips the test.
func awsCLIv2(t *testing.T) string {
	t.Helper()
	for _, dir := range append(filepath.SplitList(os.Getenv("PATH")), "/usr/bin", "/usr/local/bin") {
		path := filepath.Join(dir, "aws")
		out, err := exec.Command(path, "--version").CombinedOutput()
		if err == nil && bytes.HasPrefix(out, []byte("aws-cli/2.")) {
			return path
		}
	}
	t.Skip("the AWS CLI v2 is not installed; the key events setup script is run with it")
	return ""
}

// customerShell runs a shell script as the key owner, with the AWS CLI v2 first on PATH and the
// emulator as every service's endpoint (AWS_ENDPOINT_URL), nothing of the machine's own AWS setup.
// CLI releases before 2.13 do not read AWS_ENDPOINT_URL: for them, the `aws` first on PATH is a
// wrapper that passes it as --endpoint-url, so the script still runs exactly as printed.
func (e *env) customerShell(t *testing.T, cli, script string) string {
	t.Helper()
	out, err := e.customerScript(cli, t.TempDir(), script)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// customerScript is customerShell in home (a fresh directory), returning the script's output or
// its failure instead of ending the test: it may run on any goroutine.
func (e *env) customerScript(cli, home, script string) (string, error) {
	bin := filepath.Join(home, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		return "", err
	}
	wrapper := "#!/bin/sh\nexec " + cli + " --endpoint-url \"$AWS_ENDPOINT_URL\" \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte(wrapper), 0o700); err != nil {
		return "", err
	}
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + home, "AWS_ENDPOINT_URL=" + e.kms.Endpoint,
		"AWS_ACCESS_KEY_ID=" + e.kms.CustomerAccessKey, "AWS_SECRET_ACCESS_KEY=not-a-secret", "AWS_DEFAULT_REGION=" + home0,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "NO_PROXY=127.0.0.1"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v\n%s", script, err, out)
	}
	return string(out), nil
}

const home0 = home

// TestKeyEvents_SetupAsPrintedThenDisableHaltsWithinSeconds: the setup script runs as printed with
// the AWS CLI v2 against the emulator; disabling the key with the CLI then halts the collection
// within seconds although probes are an hour apart, and enabling it restores it.
func TestKeyEvents_SetupAsPrintedThenDisableHaltsWithinSeconds(t *testing.T) {
	t.Parallel()
	cli := awsCLIv2(t)
	e := setup(t, slowProbes)
	org, key := e.cmekOrg("acme-cli")
	col := e.collection(org, "orders", true)["id"].(string)
	on := e.enableKeyEvents(org)
	setupCLI := on["setup"].(map[string]any)["cli"].(string)
	if strings.Contains(setupCLI, "<") || !strings.Contains(setupCLI, on["api_key"].(string)) {
		t.Fatalf("the script is not ready to run:\n%s", setupCLI)
	}
	e.customerShell(t, cli, setupCLI)

	e.customerShell(t, cli, "aws kms disable-key --key-id "+key)
	start := time.Now() // the CLI's own start-up takes seconds on a busy machine
	eventually(t, 5*time.Second, "ingest_halted after disable-key", func() bool {
		c := e.must(200, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken})
		return c["state"] == "ingest_halted"
	})
	t.Logf("disable-key answered → ingest_halted in %s", time.Since(start))
	e.customerShell(t, cli, "aws kms enable-key --key-id "+key)
	eventually(t, 5*time.Second, "active after enable-key", func() bool {
		c := e.must(200, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken})
		return c["state"] == "active"
	})
	st := e.must(200, req{method: "GET", path: "/v1/orgs/" + org + "/key-events", token: adminToken})
	if st["events_matched"].(float64) < 2 || st["last_event_name"] != "EnableKey" {
		t.Fatalf("key events status %v", st)
	}
}
