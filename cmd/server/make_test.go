//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// TestMakeRun_CtrlCExitsZero: `make run` in a terminal of its own, as a developer starts it; once the
// banner is out, Ctrl-C (the terminal sends SIGINT to its foreground process group) stops the server,
// and make exits 0. Sending SIGINT to make's own process group could not pass: make re-raises a
// SIGINT it receives once its child has exited, so the server must be the terminal's foreground group
// and make outside it, which is what a terminal is needed for.
func TestMakeRun_CtrlCExitsZero(t *testing.T) {
	for _, tool := range []string{"make", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s in PATH: make run cannot run here", tool)
		}
	}
	ptm, pts, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal to run make run in: %v", err)
	}
	defer ptm.Close()
	addr := testkit.FreeAddr(t)
	cmd := exec.Command("make", "run")
	cmd.Dir = "../.."
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CMEKD_") && !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// Dev mode's state in a cache directory of the test's; Go's build cache, which defaults to one
	// inside it, stays where it is, or make run would build everything afresh.
	if os.Getenv("GOCACHE") == "" {
		if cache, err := os.UserCacheDir(); err == nil {
			cmd.Env = append(cmd.Env, "GOCACHE="+filepath.Join(cache, "go-build"))
		}
	}
	cmd.Env = append(cmd.Env, "CMEKD_ADDR="+addr, "CMEKD_DATABASE_URL="+testkit.Database(t), "XDG_CACHE_HOME="+t.TempDir())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	// A session of its own with the pseudo-terminal as its controlling terminal: make is the
	// foreground process group, as in a developer's shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	// Children inherit an ignored SIGINT (go test run in the background of a script): handled here,
	// it is at its default in make, as in a terminal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	out := &testkit.SyncBuffer{}
	drained := make(chan struct{}) // the terminal's last bytes are read: all its writers have gone
	go func() {
		defer close(drained)
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			out.Write(b[:n])
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(3 * time.Minute) // make run builds the server first
	for !strings.Contains(out.String(), "export CMEKD_DEV_KMS=") {
		select {
		case err := <-exited:
			t.Fatalf("make run stopped before its banner: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("no banner from make run:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := ptm.Write([]byte{3}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("make run after Ctrl-C: %v, want exit status 0\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("make run still runs 30s after Ctrl-C:\n%s", out.String())
	}
	select { // what make run wrote last may still be in the terminal when it exits
	case <-drained:
	case <-time.After(5 * time.Second):
	}
	if !strings.Contains(out.String(), "cmekd stopped") {
		t.Errorf("the server did not stop cleanly:\n%s", out.String())
	}
}

// openPTY opens a pseudo-terminal pair: the master, and the slave for a child to use.
func openPTY() (ptm, pts *os.File, err error) {
	ptm, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	var unlock int32
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		ptm.Close()
		return nil, nil, errno
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		ptm.Close()
		return nil, nil, errno
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		ptm.Close()
		return nil, nil, err
	}
	return ptm, pts, nil
}
