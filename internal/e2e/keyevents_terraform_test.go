package e2e_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/testing/tftest"
)

var providerAlias = regexp.MustCompile(`(?m)^provider "aws" \{\n  alias  = "([^"]+)"\n  region = "([^"]+)"`)

// emulatorOverride is the only file added to setup.terraform: for each of its providers (by alias), the
// emulator as the endpoint of every service the setup uses, and the key owner's access key. It is a
// Terraform override file, merged into the provider blocks as printed.
func emulatorOverride(t *testing.T, setupTF, endpoint, accessKey string) string {
	t.Helper()
	found := providerAlias.FindAllStringSubmatch(setupTF, -1)
	if len(found) == 0 {
		t.Fatalf("setup.terraform has no aliased aws provider:\n%s", setupTF)
	}
	var b strings.Builder
	for _, m := range found {
		b.WriteString(tftest.AWSProvider(m[1], m[2], accessKey, endpoint, "events", "iam", "kms", "sts"))
	}
	return b.String()
}

// TestKeyEvents_TerraformSetupAsPrintedThenDisableHaltsWithinSeconds: setup.terraform, endpoint aside,
// applies against the emulator; a second plan shows no changes; disabling the key with the SDK then
// halts the collection within seconds although probes are an hour apart; destroy removes it all.
func TestKeyEvents_TerraformSetupAsPrintedThenDisableHaltsWithinSeconds(t *testing.T) {
	t.Parallel()
	tf := tftest.Find(t, tftest.Options{})
	e := setup(t, slowProbes)
	org, key := e.cmekOrg("acme-terraform")
	col := e.collection(org, "orders", true)["id"].(string)
	on := e.enableKeyEvents(org)
	setupTF := on["setup"].(map[string]any)["terraform"].(string)
	if !strings.Contains(setupTF, on["api_key"].(string)) {
		t.Fatalf("setup.terraform lacks the api key:\n%s", setupTF)
	}
	dir := t.TempDir()
	tftest.WriteFile(t, dir, "cmekd-key-events.tf", setupTF)
	tftest.WriteFile(t, dir, "emulator_override.tf", emulatorOverride(t, setupTF, e.kms.Endpoint, e.kms.CustomerAccessKey))
	tf.Run(t, dir, "init", "-input=false")
	tf.Run(t, dir, "apply", "-input=false", "-auto-approve")
	if out, code := tf.Run(t, dir, "plan", "-input=false", "-detailed-exitcode"); code != 0 {
		t.Fatalf("plan after apply exit %d, want 0 (no changes):\n%s", code, out)
	}

	e.disableKey(key)
	start := time.Now()
	eventually(t, 5*time.Second, "ingest_halted after DisableKey", func() bool {
		c := e.must(200, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken})
		return c["state"] == "ingest_halted"
	})
	t.Logf("DisableKey answered → ingest_halted in %s", time.Since(start))
	e.enableKey(key)
	eventually(t, 5*time.Second, "active after EnableKey", func() bool {
		c := e.must(200, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken})
		return c["state"] == "active"
	})

	tf.Run(t, dir, "destroy", "-input=false", "-auto-approve")
	e.disableKey(key)
	time.Sleep(2 * time.Second)
	if c := e.must(200, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken}); c["state"] != "active" {
		t.Fatalf("after destroy, an event still reached cmekd: the collection is %v", c["state"])
	}
}
