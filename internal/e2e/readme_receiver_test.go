package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// readmeReceiver is the Go code block under "## Verifying a delivery" in docs/webhooks.md.
func readmeReceiver(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "## Verifying a delivery")
	if !ok {
		t.Fatal("docs/webhooks.md has no \"## Verifying a delivery\" section")
	}
	_, code, ok := strings.Cut(rest, "```go\n")
	if !ok {
		t.Fatal("the section has no Go code block")
	}
	code, _, _ = strings.Cut(code, "```")
	return code
}

// TestREADME_ReceiverVerifiesRealDeliveries builds the receiver of docs/webhooks.md, points an endpoint at it
// and checks that it verifies cmekd's deliveries and refuses a forged one.
func TestREADME_ReceiverVerifiesRealDeliveries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(readmeReceiver(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module receiver\n\ngo 1.26\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "receiver")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the receiver of docs/webhooks.md with: %v", err)
	}
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the receiver of docs/webhooks.md does not build: %v\n%s", err, out)
	}

	e := setup(t)
	org := e.createOrg("Acme")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	wh, secret := e.webhook(org, "http://"+addr+"/cmekd", "*")

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "CMEKD_WEBHOOK_SECRET="+secret, "ADDR="+addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var printed []string
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			printed = append(printed, sc.Text())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	eventually(t, 10*time.Second, "the receiver to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	forged, err := http.Post("http://"+addr+"/cmekd", "application/json", bytes.NewReader([]byte(`{"id":"evt_x"}`)))
	if err != nil {
		t.Fatal(err)
	}
	forged.Body.Close()
	if forged.StatusCode != http.StatusUnauthorized {
		t.Errorf("an unsigned delivery got %d, want 401", forged.StatusCode)
	}

	test := e.must(http.StatusAccepted, req{method: "POST", path: "/v1/orgs/" + org + "/webhooks/" + wh + "/test", token: adminToken})
	eventually(t, 10*time.Second, "the delivery logged", func() bool { return len(e.deliveries(org, wh)) > 0 })
	if d := e.deliveries(org, wh)[0]; d["status_code"] != float64(http.StatusNoContent) {
		t.Fatalf("the receiver of docs/webhooks.md answered %v: %v", d["status_code"], d)
	}
	eventually(t, 5*time.Second, "the receiver to print the verified event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, line := range printed {
			if strings.HasPrefix(line, "verified "+test["event_id"].(string)+" ") {
				return true
			}
		}
		return false
	})
}
