package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// binary is cmekctl as built by TestMain: the tests run what users run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cmekctl-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cmekctl")
	// Stamped as make build stamps, so that TestVersion sees the stamp come through.
	ldflags := "-X " + versionPkg + ".Version=" + stampVersion + " -X " + versionPkg + ".Commit=" + stampCommit +
		" -X " + versionPkg + ".Date=" + stampDate
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build cmekctl: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the built binary with env as its whole environment (plus PATH and HOME).
func cli(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = environ(t, env)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run cmekctl %s: %v", strings.Join(args, " "), err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func environ(t *testing.T, env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// adminEnv starts a server for t (env and opts as testserver.Start takes them) and returns it with
// the environment of its admin.
func adminEnv(t *testing.T, env map[string]string, opts ...testserver.Option) (*testserver.Server, map[string]string) {
	t.Helper()
	s := testserver.Start(t, env, opts...)
	return s, map[string]string{"CMEKD_URL": s.URL, "CMEKD_TOKEN": testserver.AdminToken}
}

// createOrg creates the organisation name in the home region on key, as admin, and returns its id.
func createOrg(t *testing.T, admin map[string]string, name, key string) string {
	t.Helper()
	return strings.TrimSpace(must(t, admin, "", "orgs", "create", "--name", name, "--region", testserver.Home, "--key-arn", key, "-o", "id"))
}

// orgOnKey creates, as admin, the organisation name on a new customer key of the home region made
// with opts, and returns the organisation's id and the key's ARN.
func orgOnKey(t *testing.T, s *testserver.Server, admin map[string]string, name string, opts kmstest.KeyOptions) (org, key string) {
	t.Helper()
	key = s.KMS.CreateCustomerKey(t, testserver.Home, opts)
	return createOrg(t, admin, name, key), key
}

// adminOrg starts a server with the organisation name on a customer key of the home region, and
// returns it with the admin's environment, which names the organisation (CMEKD_ORG), and its id.
func adminOrg(t *testing.T, name string) (*testserver.Server, map[string]string, string) {
	t.Helper()
	s, admin := adminEnv(t, nil)
	org, _ := orgOnKey(t, s, admin, name, kmstest.KeyOptions{})
	admin["CMEKD_ORG"] = org
	return s, admin, org
}

// createCollection creates the collection name as env and returns its id.
func createCollection(t *testing.T, env map[string]string, name string) string {
	t.Helper()
	return strings.TrimSpace(must(t, env, "", "collections", "create", "--name", name, "-o", "id"))
}

// tokenEnv creates a token name of role in org, as admin, and returns the environment that uses it.
func tokenEnv(t *testing.T, admin map[string]string, org, name, role string) map[string]string {
	t.Helper()
	token := strings.TrimSpace(must(t, admin, "", "tokens", "create", "--org", org, "--name", name, "--role", role, "-o", "id"))
	return map[string]string{"CMEKD_URL": admin["CMEKD_URL"], "CMEKD_ORG": org, "CMEKD_TOKEN": token}
}

// must runs cmekctl and fails the test unless it exits 0. Output is not logged: it may hold a token.
func must(t *testing.T, env map[string]string, stdin string, args ...string) string {
	t.Helper()
	r := cli(t, env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("cmekctl %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func TestHelp_ListsEveryCommandAndEveryCommandExplainsItsFlags(t *testing.T) {
	t.Parallel()
	top := cli(t, nil, "", "--help")
	if top.code != 0 {
		t.Fatalf("cmekctl --help: exit %d", top.code)
	}
	for _, want := range []string{"CMEKD_URL", "CMEKD_TOKEN", "CMEKD_ORG", "-o json", "Exit status"} {
		if !strings.Contains(top.stdout, want) {
			t.Errorf("cmekctl --help does not mention %q", want)
		}
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(top.stdout, "  "+c.name+" ") {
				t.Errorf("cmekctl --help does not list %q", c.name)
			}
			r := cli(t, nil, "", append(strings.Fields(c.name), "--help")...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, "Usage: cmekctl "+c.name) || len(strings.TrimSpace(c.help)) < 40 {
				t.Errorf("help lacks its usage line or a description:\n%s", r.stdout)
			}
			for _, a := range c.args {
				if !strings.Contains(r.stdout, a) {
					t.Errorf("help does not name the argument %s", a)
				}
			}
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.setup(fs)
			fs.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(r.stdout, "-"+f.Name) || f.Usage == "" {
					t.Errorf("help does not explain -%s", f.Name)
				}
			})
		})
	}
}

func TestUsageErrors_ExitTwoAndSayWhatIsMissing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"nope"}, nil, "unknown command"},
		{[]string{"orgs"}, nil, "CMEKD_URL"},
		{[]string{"orgs"}, map[string]string{"CMEKD_URL": "http://127.0.0.1:1"}, "CMEKD_TOKEN"},
		{[]string{"collections"}, map[string]string{"CMEKD_URL": "http://127.0.0.1:1", "CMEKD_TOKEN": "x"}, "CMEKD_ORG"},
		{[]string{"key-check"}, nil, "KEY"},
		{[]string{"orgs", "-o", "yaml"}, map[string]string{"CMEKD_URL": "http://127.0.0.1:1", "CMEKD_TOKEN": "x"}, "table, json or id"},
	} {
		r := cli(t, tc.env, "", tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("cmekctl %v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

func TestKeyCheck_FailingCheckExitsOneWithTheStatementToAdd(t *testing.T) {
	t.Parallel()
	s, env := adminEnv(t, nil)
	keyARN := s.KMS.CreateCustomerKey(t, testserver.Home, kmstest.KeyOptions{DefaultPolicy: true})

	r := cli(t, env, "", "key-check", keyARN)
	if r.code != 1 {
		t.Fatalf("key-check of a key that does not admit the platform: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"✓  arn", "✗  describe_key", "access_denied", "kms:DescribeKey",
		"Add this statement to the key policy of " + keyARN, `"Sid": "cmekd`, kmstest.PlatformPrincipal, `"kms:GenerateDataKey*"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("key-check output lacks %q:\n%s", want, r.stdout)
		}
	}

	// The owner adds the statement; the same check now passes.
	s.KMS.PutPolicy(t, keyARN, s.KMS.PlatformPolicy())
	out := must(t, env, "", "key-check", keyARN)
	if strings.Contains(out, "✗") || !strings.Contains(out, "Every check passed") {
		t.Errorf("key-check after the fix:\n%s", out)
	}
	var res struct {
		OK     bool `json:"ok"`
		Checks []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(must(t, env, "", "key-check", keyARN, "-o", "json")), &res); err != nil || !res.OK || len(res.Checks) != 11 {
		t.Errorf("key-check -o json: %+v, %v", res, err)
	}
}

func TestOrgLife_CreateIngestReadWithRolesAndNoTokenInLogs(t *testing.T) {
	t.Parallel()
	s, admin := adminEnv(t, nil)
	org, keyARN := orgOnKey(t, s, admin, "Acme", kmstest.KeyOptions{})
	if !strings.HasPrefix(org, "org_") {
		t.Fatalf("orgs create -o id printed %q", org)
	}
	table := must(t, admin, "", "orgs")
	if !regexp.MustCompile(org + `\s+Acme\s+us-east-1\s+customer_managed\s+\w+\s+` + regexp.QuoteMeta(keyARN) + `\s+aws`).MatchString(table) {
		t.Errorf("orgs table lacks the new organisation:\n%s", table)
	}
	// A second organisation on a key that does not admit the platform is refused, with every check.
	bad := s.KMS.CreateCustomerKey(t, testserver.Home, kmstest.KeyOptions{DefaultPolicy: true})
	r := cli(t, admin, "", "orgs", "create", "--name", "Bad", "--region", testserver.Home, "--key-arn", bad)
	if r.code != 1 || !strings.Contains(r.stderr, "key_verification_failed") || !strings.Contains(r.stderr, "✗  describe_key") {
		t.Errorf("orgs create on a key without the platform: exit %d\n%s", r.code, r.stderr)
	}

	owner := tokenEnv(t, admin, org, "ops", "owner")
	col := createCollection(t, owner, "events")
	ids := strings.Fields(must(t, owner, `{"user":"ada"}`+"\n"+`{"user":"grace"}`, "documents", "ingest", col, "-o", "id"))
	if len(ids) != 2 {
		t.Fatalf("documents ingest printed ids %q", ids)
	}
	var docs struct {
		Documents []struct {
			ID   string         `json:"id"`
			Data map[string]any `json:"data"`
		}
	}
	if err := json.Unmarshal([]byte(must(t, owner, "", "documents", col, "-o", "json")), &docs); err != nil || len(docs.Documents) != 2 {
		t.Fatalf("documents -o json: %+v %v", docs, err)
	}
	got := must(t, owner, "", "documents", "get", col, ids[1])
	if !strings.Contains(got, `"user": "grace"`) && !strings.Contains(got, `"user": "ada"`) {
		t.Errorf("documents get: %s", got)
	}
	if out := must(t, owner, "", "collections"); !regexp.MustCompile(col + `\s+events\s+us-east-1\s+active`).MatchString(out) {
		t.Errorf("collections table:\n%s", out)
	}

	member := map[string]string{"CMEKD_URL": s.URL, "CMEKD_ORG": org}
	member["CMEKD_TOKEN"] = strings.TrimSpace(must(t, owner, "", "tokens", "create", "--name", "reader", "--role", "member", "-o", "id"))
	r = cli(t, member, "", "collections", "create", "--name", "nope")
	if r.code != 1 || !strings.Contains(r.stderr, "forbidden") {
		t.Errorf("a member creating a collection: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := must(t, owner, "", "tokens"); !strings.Contains(out, "reader") || strings.Contains(out, member["CMEKD_TOKEN"]) {
		t.Errorf("tokens lists no reader, or shows a secret")
	}
	for _, secret := range []string{owner["CMEKD_TOKEN"], member["CMEKD_TOKEN"], testserver.AdminToken} {
		if strings.Contains(s.Logs(), secret) {
			t.Error("the server logged a token")
		}
	}
}

// stream runs a long-lived cmekctl and collects its output until the test ends.
type stream struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *stream) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.buf.String() }

func follow(t *testing.T, env map[string]string, args ...string) *stream {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = environ(t, env)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &stream{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.mu.Lock()
			s.buf.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		<-done
		if err := cmd.Wait(); err != nil {
			t.Errorf("cmekctl %s did not stop cleanly on interrupt: %v", strings.Join(args, " "), err)
		}
	})
	return s
}

func waitFor(t *testing.T, s *stream, what string, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !re.MatchString(s.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s; output so far:\n%s", what, s.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestWatchAndFollow_ShowTheKeyBeingDisabled(t *testing.T) {
	t.Parallel()
	s, admin := adminEnv(t, nil)
	org, keyARN := orgOnKey(t, s, admin, "Acme", kmstest.KeyOptions{})
	admin["CMEKD_ORG"] = org
	col := createCollection(t, admin, "events")
	must(t, admin, "", "probe")

	watch := follow(t, admin, "key-status", "--watch", "--interval", "1s")
	events := follow(t, admin, "events", "--follow", "--interval", "1s", "-o", "json")
	waitFor(t, watch, "a healthy key", regexp.MustCompile(`us-east-1\s+data\s+healthy`))
	waitFor(t, events, "the org.created event", regexp.MustCompile(`"type":"org.created"`))

	s.KMS.DisableKey(t, keyARN)
	must(t, admin, "", "probe")
	waitFor(t, watch, "the key turning unavailable", regexp.MustCompile(`us-east-1\s+data\s+unavailable\s+.*key_disabled`))
	waitFor(t, events, "the collection halting", regexp.MustCompile(`"collection_id":"`+col+`".*"type":"collection.ingest_halted"|"type":"collection.ingest_halted".*"collection_id":"`+col+`"`))
	if n := strings.Count(events.String(), `"type":"org.created"`); n != 1 {
		t.Errorf("events --follow printed org.created %d times, want once", n)
	}
	if out := must(t, admin, "", "collections"); !regexp.MustCompile(col + `\s+events\s+us-east-1\s+ingest_halted\s+key_disabled`).MatchString(out) {
		t.Errorf("collections after the key was disabled:\n%s", out)
	}
}

func TestWalkthrough_RunsEndToEndAgainstDevMode(t *testing.T) {
	t.Parallel()
	banner := testserver.StartDev(t)
	env := map[string]string{"PATH": filepath.Dir(binary) + ":" + os.Getenv("PATH"), "TMPDIR": t.TempDir()}
	for _, m := range regexp.MustCompile(`export ((?:\w+=\S+ ?)+)`).FindAllStringSubmatch(banner, -1) {
		for _, kv := range strings.Fields(m[1]) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	for _, k := range []string{"CMEKD_URL", "CMEKD_TOKEN", "CMEKD_KEY_ARN", "CMEKD_DEV_KMS", "CMEKD_DEV_OWNER_ACCESS_KEY"} {
		if env[k] == "" {
			t.Fatalf("dev mode's banner exports no %s", k)
		}
	}
	cmd := exec.Command("bash", "../../scripts/walkthrough.sh")
	cmd.Env = []string{"HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	text := strings.ReplaceAll(string(out), env["CMEKD_TOKEN"], "<token>")
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, text)
	}
	for _, want := range []string{"Every check passed", "customer_managed", `"user":"ada"`, "healthy"} {
		if !strings.Contains(text, want) {
			t.Errorf("walkthrough output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "skipping the key owner's steps") {
		t.Skip("the AWS CLI v2 is not installed (.ci/run installs Debian's awscli): the walkthrough ran without the key owner's steps")
	}
	halted := strings.Index(text, "ingest_halted")
	recovered := strings.LastIndex(text, "$ cmekctl collections")
	if halted < 0 || recovered < halted || !regexp.MustCompile(`events\s+us-west-2\s+active`).MatchString(text[recovered:]) {
		t.Errorf("walkthrough did not show the collection halt and recover:\n%s", text)
	}
}
