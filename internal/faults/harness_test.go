// Package faults_test holds the fault tests that need real processes: the server binary and the KMS
// emulator binary run as subprocesses, so that a test can kill -9 the server at any moment and start
// it again on the same database. It also holds the soak (TestSoak), which runs only when asked.
package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// adminToken is the server's admin token (CMEKD_ADMIN_TOKEN needs at least 32 characters).
const adminToken = "faults-admin-token-0123456789abcdef"

// region is the only region the server serves, the provider key's.
const region = kmstest.EmulatorRegion

// buildBinaries builds cmd/server and cmd/kms-emulator into a temporary directory and returns their
// paths. Building is what `go test` caches best, so each test builds its own.
func buildBinaries(t testing.TB) (server, emulator string) {
	t.Helper()
	dir := t.TempDir()
	server, emulator = filepath.Join(dir, "cmekd"), filepath.Join(dir, "kms-emulator")
	for pkg, out := range map[string]string{"./cmd/server": server, "./cmd/kms-emulator": emulator} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = testkit.ModuleRoot(t)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return server, emulator
}

// process is a subprocess of the test, its output kept in a file that a failing test prints.
type process struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	once sync.Once
}

// startProcess starts bin with args and exactly the environment env (nothing of the test's own
// environment leaks in: no AWS profile, no CMEKD_ variable of the caller's shell).
func startProcess(t testing.TB, name, bin string, env []string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{t: t, name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s output (last 4 KiB):\n%s", name, tail(b, 4096))
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// kill sends SIGKILL, as the OOM killer or a lost machine would: no shutdown code runs. It waits
// until the process is gone.
func (p *process) kill() {
	p.once.Do(func() {
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
}

// exited says whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitHTTP polls url until it answers 200, failing the test if p exits first or 30 s pass.
func (p *process) waitHTTP(url string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if p.exited() {
			b, _ := os.ReadFile(p.log)
			p.t.Fatalf("%s exited before %s answered 200:\n%s", p.name, url, tail(b, 4096))
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %s did not answer 200 within 30 s (last error %v)", p.name, url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stack is the emulator and server binaries and what the server runs on, so that a test can start
// the server again on the same database after killing it.
type stack struct {
	t         testing.TB
	serverBin string
	env       []string
	// URL is the server's base URL; it keeps its address across restarts.
	URL string
}

// newStack builds the binaries, starts the emulator binary on a free loopback port, creates the
// provider key in it as the customer account would, and returns a stack ready to start servers on
// dbURL.
func newStack(t testing.TB, dbURL string, extraEnv ...string) *stack {
	t.Helper()
	serverBin, emulatorBin := buildBinaries(t)
	kenv := startEmulator(t, emulatorBin)
	providerKey := kenv.CreateCustomerKey(t, region, kmstest.KeyOptions{})
	addr := testkit.FreeAddr(t)
	home := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home, // no ~/.aws of the machine's
		"CMEKD_ADDR=" + addr,
		"CMEKD_DATABASE_URL=" + dbURL,
		"CMEKD_ADMIN_TOKEN=" + adminToken,
		"CMEKD_KMS_ENDPOINT=" + kenv.Endpoint,
		"CMEKD_KMS_TIMEOUT=2s",
		"CMEKD_PLATFORM_PRINCIPAL=" + kmstest.PlatformPrincipal,
		"CMEKD_PROVIDER_KEY_ARN=" + providerKey,
		"CMEKD_REGIONS=" + region,
		// The emulator maps this access key id to the platform principal; it checks no signatures.
		"AWS_ACCESS_KEY_ID=" + kmstest.PlatformAccessKey,
		"AWS_SECRET_ACCESS_KEY=faults-not-a-secret",
		"AWS_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	return &stack{t: t, serverBin: serverBin, env: append(env, extraEnv...), URL: "http://" + addr}
}

// startEmulator starts the emulator binary on a free loopback port, mapping the platform's access key
// and each of principals ("access-key=principal") to its principal, and returns it as tests reach it.
func startEmulator(t testing.TB, emulatorBin string, principals ...string) *kmstest.Env {
	t.Helper()
	emAddr := testkit.FreeAddr(t)
	args := []string{"-addr", emAddr, "-account", kmstest.EmulatorAccount,
		"-principal", kmstest.PlatformAccessKey + "=" + kmstest.PlatformPrincipal}
	for _, p := range principals {
		args = append(args, "-principal", p)
	}
	em := startProcess(t, "kms-emulator", emulatorBin, []string{"PATH=" + os.Getenv("PATH")}, args...)
	// Any answer means it listens; the emulator has no health route of its own.
	waitListening(t, em, emAddr)
	return &kmstest.Env{
		Endpoint: "http://" + emAddr, Account: kmstest.EmulatorAccount, Region: region,
		PlatformPrincipal: kmstest.PlatformPrincipal, PlatformAccessKey: kmstest.PlatformAccessKey,
		CustomerAccessKey: kmstest.CustomerAccessKey, EnforcesPolicies: true,
	}
}

// waitListening waits until addr accepts TCP connections.
func waitListening(t testing.TB, p *process, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p.exited() || time.Now().After(deadline) {
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s never listened on %s: %v\n%s", p.name, addr, err, tail(b, 4096))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startServer starts the server binary and waits until /readyz answers 200.
func (s *stack) startServer() *process {
	s.t.Helper()
	p := startProcess(s.t, "cmekd", s.serverBin, s.env)
	p.waitHTTP(s.URL + "/readyz")
	return p
}

// client is the HTTP client of the tests: real connections, a bound on every request.
var client = &http.Client{Timeout: 15 * time.Second}

// answer is what a caller sees of a response.
type answer struct {
	Status int
	Body   []byte
}

// call makes one request as the admin; err is a transport error (no answer at all).
func call(ctx context.Context, method, url string, body []byte, header map[string]string) (answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{Status: resp.StatusCode, Body: b}, nil
}

// must makes a request that must answer status and returns the decoded body.
func (s *stack) must(status int, method, path string, body any) map[string]any {
	s.t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			s.t.Fatal(err)
		}
	}
	a, err := call(context.Background(), method, s.URL+path, raw, nil)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	if a.Status != status {
		s.t.Fatalf("%s %s = %d %s, want %d", method, path, a.Status, a.Body, status)
	}
	var m map[string]any
	if err := json.Unmarshal(a.Body, &m); err != nil {
		s.t.Fatalf("%s %s: body %s: %v", method, path, a.Body, err)
	}
	return m
}

// orgAndCollection creates a provider-managed organisation (no customer key to set up) with one
// collection and returns the collection's documents path.
func (s *stack) orgAndCollection() (org, docs string) {
	s.t.Helper()
	org = s.must(http.StatusCreated, "POST", "/v1/orgs", map[string]any{"name": "Faults", "region": region})["id"].(string)
	col := s.must(http.StatusCreated, "POST", "/v1/orgs/"+org+"/collections",
		map[string]any{"name": "events", "recoverable": true})["id"].(string)
	return org, "/v1/orgs/" + org + "/collections/" + col + "/documents"
}

// ids decodes an ingestion's answer.
func ids(body []byte) ([]string, error) {
	var out struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	return out.IDs, nil
}

// metric reads one unlabelled gauge from /metrics.
func (s *stack) metric(name string) (float64, error) {
	a, err := call(context.Background(), "GET", s.URL+"/metrics", nil, nil)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(a.Body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			return f, err
		}
	}
	return 0, fmt.Errorf("/metrics has no %s", name)
}
