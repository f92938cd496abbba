package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// customerOrg starts a server with env, creates an organisation on a customer key and returns the
// environment of an owner token of it.
func customerOrg(t *testing.T, env map[string]string) (*testserver.Server, map[string]string) {
	t.Helper()
	s, admin := adminEnv(t, env)
	org, _ := orgOnKey(t, s, admin, "Acme", kmstest.KeyOptions{})
	owner := tokenEnv(t, admin, org, "ops", "owner")
	return s, owner
}

// as is env with another token.
func as(env map[string]string, token string) map[string]string {
	out := map[string]string{"CMEKD_TOKEN": token}
	for k, v := range env {
		if k != "CMEKD_TOKEN" {
			out[k] = v
		}
	}
	return out
}

func TestSecrets_TectonSeedFlowReadByAWorkspaceToken(t *testing.T) {
	t.Parallel()
	s, owner := customerOrg(t, nil)
	dir := t.TempDir()
	userFile, passFile := filepath.Join(dir, "user"), filepath.Join(dir, "password")
	const user, password = "TECTON_SVC", "s3cr3t p@ss\nwith a second line"
	for f, v := range map[string]string{userFile: user, passFile: password} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	if out := must(t, owner, "", "scopes", "create", "snowflake-scope"); !regexp.MustCompile(`snowflake-scope\s+scp_\w+\s+tok_\w+`).MatchString(out) {
		t.Errorf("scopes create:\n%s", out)
	}
	out := must(t, owner, "", "secrets", "put", "-s", "snowflake-scope", "-k", "snowflake-user", "-f", userFile)
	if !regexp.MustCompile(`snowflake-user\s+1\s`).MatchString(out) || strings.Contains(out, user) {
		t.Errorf("secrets put printed no version 1, or the value:\n%s", out)
	}
	must(t, owner, "", "secrets", "put", "-s", "snowflake-scope", "-k", "snowflake-password", "-f", passFile)
	out = must(t, owner, "", "secrets", "put", "-s", "snowflake-scope", "-k", "snowflake-password", "-f", passFile, "-o", "json")
	if !regexp.MustCompile(`"version":\s*2`).MatchString(out) || strings.Contains(out, "p@ss") {
		t.Errorf("a second put is not version 2, or shows the value:\n%s", out)
	}

	must(t, owner, "", "workspaces", "create", "prod")
	if out := must(t, owner, "", "workspaces"); !regexp.MustCompile(`prod\s+wsp_\w+`).MatchString(out) {
		t.Errorf("workspaces:\n%s", out)
	}
	out = must(t, owner, "", "roles", "assign", "-s", "snowflake-scope", "--principal", "workspace:prod", "--role", "reader")
	if !regexp.MustCompile(`workspace:prod\s+reader`).MatchString(out) || !regexp.MustCompile(`tok_\w+\s+manager`).MatchString(out) {
		t.Errorf("roles assign did not print the roles as they stand:\n%s", out)
	}
	if r := cli(t, owner, "", "roles", "assign", "-s", "snowflake-scope", "--principal", "workspace:prod", "--role", "writer"); r.code != 1 || !strings.Contains(r.stderr, "workspace_role_not_allowed") {
		t.Errorf("a workspace made writer: exit %d, %s", r.code, r.stderr)
	}
	listed := must(t, owner, "", "secrets", "-s", "snowflake-scope")
	if !regexp.MustCompile(`snowflake-password\s+2\s`).MatchString(listed) || !regexp.MustCompile(`snowflake-user\s+1\s`).MatchString(listed) ||
		strings.Contains(listed, user) || strings.Contains(listed, "p@ss") {
		t.Errorf("secrets list lacks keys and versions, or shows a value:\n%s", listed)
	}

	job := as(owner, strings.TrimSpace(must(t, owner, "", "tokens", "create", "--name", "materialization", "--role", "workspace", "--workspace", "prod", "-o", "id")))
	if got := must(t, job, "", "secrets", "get", "-s", "snowflake-scope", "-k", "snowflake-password"); got != password {
		t.Errorf("secrets get with the workspace token printed %q, want the value exactly", got)
	}
	var read struct {
		Key, Value string
		Version    int
	}
	if err := json.Unmarshal([]byte(must(t, job, "", "secrets", "get", "-s", "snowflake-scope", "-k", "snowflake-user", "-o", "json")), &read); err != nil ||
		read.Value != user || read.Version != 1 {
		t.Errorf("secrets get -o json: %+v %v", read, err)
	}
	// A reader reads values but lists no keys, and a workspace token touches nothing else.
	if r := cli(t, job, "", "secrets", "-s", "snowflake-scope"); r.code != 1 || !strings.Contains(r.stderr, "forbidden") {
		t.Errorf("a workspace listing keys: exit %d, %s", r.code, r.stderr)
	}
	if r := cli(t, job, "", "collections"); r.code != 1 {
		t.Errorf("a workspace token listing collections: exit %d", r.code)
	}

	must(t, owner, "", "roles", "remove", "-s", "snowflake-scope", "--principal", "workspace:prod")
	if r := cli(t, job, "", "secrets", "get", "-s", "snowflake-scope", "-k", "snowflake-user"); r.code != 1 || strings.Contains(r.stdout, user) {
		t.Errorf("a read after the role was removed: exit %d, stdout %q", r.code, r.stdout)
	}
	must(t, owner, "", "secrets", "delete", "-s", "snowflake-scope", "-k", "snowflake-user")
	if out := must(t, owner, "", "secrets", "-s", "snowflake-scope", "-o", "id"); out != "snowflake-password\n" {
		t.Errorf("keys after a delete: %q", out)
	}
	must(t, owner, "", "scopes", "delete", "snowflake-scope")
	if r := cli(t, owner, "", "scopes", "get", "snowflake-scope"); r.code != 1 || !strings.Contains(r.stderr, "not_found") {
		t.Errorf("scopes get after delete: exit %d, %s", r.code, r.stderr)
	}
	must(t, owner, "", "workspaces", "delete", "prod")
	for _, v := range []string{password, "p@ss", user} {
		if strings.Contains(s.Logs(), v) {
			t.Errorf("the server logged a secret value %q", v)
		}
	}
}

func TestSecretsPut_TakesTheValueOnlyFromAFileOrStdin(t *testing.T) {
	t.Parallel()
	_, owner := customerOrg(t, nil)
	must(t, owner, "", "scopes", "create", "app")

	// No -f: refused before any request, and an extra argument is no way around it.
	for _, args := range [][]string{
		{"secrets", "put", "-s", "app", "-k", "token"},
		{"secrets", "put", "-s", "app", "-k", "token", "hunter2"},
	} {
		if r := cli(t, owner, "", args...); r.code == 0 || strings.Contains(r.stdout+r.stderr, "hunter2") {
			t.Errorf("cmekctl %v: exit %d, output %q", args, r.code, r.stdout+r.stderr)
		}
	}
	if r := cli(t, owner, "", "secrets", "put", "-s", "app", "-k", "token"); !strings.Contains(r.stderr, "-f FILE is required") {
		t.Errorf("secrets put without -f: %q", r.stderr)
	}
	out := must(t, owner, "from-stdin\n", "secrets", "put", "-s", "app", "-k", "token", "-f", "-")
	if strings.Contains(out, "from-stdin") {
		t.Errorf("secrets put printed the value: %s", out)
	}
	if got := must(t, owner, "", "secrets", "get", "-s", "app", "-k", "token"); got != "from-stdin\n" {
		t.Errorf("secrets get: %q, want stdin's bytes exactly", got)
	}
	if r := cli(t, owner, "\xff\xfe", "secrets", "put", "-s", "app", "-k", "bin", "-f", "-"); r.code != 1 || !strings.Contains(r.stderr, "UTF-8") {
		t.Errorf("a value that is not UTF-8: exit %d, %s", r.code, r.stderr)
	}
	if r := cli(t, owner, strings.Repeat("x", 64<<10+1), "secrets", "put", "-s", "app", "-k", "big", "-f", "-"); r.code != 1 || !strings.Contains(r.stderr, "64 KiB") {
		t.Errorf("a value over 64 KiB: exit %d, %s", r.code, r.stderr)
	}
}

func TestWebhooks_TestDeliveryReachesALoopbackReceiverAndIsListed(t *testing.T) {
	t.Parallel()
	var got atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(r.Header.Get("Cmekd-Signature"), "t=") && strings.Contains(string(body), `"type":"webhook.test"`) {
			got.Add(1)
		}
	}))
	t.Cleanup(receiver.Close)
	_, owner := customerOrg(t, map[string]string{"CMEKD_WEBHOOK_HTTP_HOSTS": "127.0.0.1"})

	out := must(t, owner, "", "webhooks", "create", "--url", receiver.URL+"/hook", "--events", "key.unavailable,key.restored")
	m := regexp.MustCompile(`(wh_\w+)\s+` + regexp.QuoteMeta(receiver.URL) + `/hook\s+key.unavailable,key.restored\s+active\s+\S+\s+(whsec_\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("webhooks create printed no id and secret:\n%s", out)
	}
	id, secret := m[1], m[2]
	if listed := must(t, owner, "", "webhooks"); !strings.Contains(listed, id) || strings.Contains(listed, secret) {
		t.Errorf("webhooks lacks the endpoint or shows its secret:\n%s", listed)
	}
	if one := must(t, owner, "", "webhooks", "get", id, "-o", "json"); !regexp.MustCompile(`"status":\s*"active"`).MatchString(one) || strings.Contains(one, "whsec_") {
		t.Errorf("webhooks get -o json:\n%s", one)
	}
	evt := strings.TrimSpace(must(t, owner, "", "webhooks", "test", id, "-o", "id"))
	if !strings.HasPrefix(evt, "evt_") {
		t.Fatalf("webhooks test -o id printed %q", evt)
	}
	row := regexp.MustCompile(regexp.QuoteMeta(evt) + `\s+webhook.test\s+1\s+200\s+\d+ms\s+-`)
	deadline := time.Now().Add(30 * time.Second)
	var deliveries string
	for deliveries = must(t, owner, "", "webhooks", "deliveries", id); !row.MatchString(deliveries); deliveries = must(t, owner, "", "webhooks", "deliveries", id) {
		if time.Now().After(deadline) {
			t.Fatalf("webhooks deliveries never showed the test delivered:\n%s", deliveries)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.Load() == 0 {
		t.Error("the receiver heard no signed webhook.test")
	}
	if r := cli(t, owner, "", "webhooks", "create", "--url", "http://10.0.0.1/hook", "--events", "*"); r.code != 1 || !strings.Contains(r.stderr, "invalid_webhook_url") {
		t.Errorf("a private URL: exit %d, %s", r.code, r.stderr)
	}
	must(t, owner, "", "webhooks", "delete", id)
	if out := must(t, owner, "", "webhooks", "-o", "id"); out != "" {
		t.Errorf("webhooks after delete: %q", out)
	}
}
