package e2e_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// findAWSCLIv2 is the AWS CLI v2 on the machine (a v1 shim may come first on PATH), or "".
func findAWSCLIv2() string {
	for _, dir := range append(filepath.SplitList(os.Getenv("PATH")), "/usr/bin", "/usr/local/bin") {
		path := filepath.Join(dir, "aws")
		if out, err := exec.Command(path, "--version").CombinedOutput(); err == nil && bytes.HasPrefix(out, []byte("aws-cli/2.")) {
			return path
		}
	}
	return ""
}

// awsCLIv2 is the AWS CLI v2, or skips the test.
func awsCLIv2(t *testing.T) string {
	t.Helper()
	cli := findAWSCLIv2()
	if cli == "" {
		t.Skip("the AWS CLI v2 is not installed; the key events setup script is run with it")
	}
	return cli
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
