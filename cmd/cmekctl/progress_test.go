package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestProgress_RewritesOneLineAndClearsIt(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := &progress{w: &buf, on: true}
	p.show("backup %s: running, %d documents copied", "bak_1", 5000)
	p.show("backup %s: running, %d documents copied", "bak_1", 10)
	p.clear()
	p.clear() // nothing shown: nothing to blank
	long := "backup bak_1: running, 5000 documents copied"
	short := "backup bak_1: running, 10 documents copied"
	want := "\r" + long + "\r" + short + "  " + "\r" + strings.Repeat(" ", len(short)) + "\r"
	if got := buf.String(); got != want {
		t.Errorf("progress wrote %q, want %q", got, want)
	}
	if strings.Contains(buf.String(), "\n") {
		t.Error("progress ended a line: the result would not start where the progress was")
	}
}

func TestProgress_OnlyOnATerminal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := newProgress(&buf)
	p.show("running")
	p.clear()
	if buf.Len() != 0 {
		t.Errorf("progress on a buffer wrote %q", buf.String())
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe counts as a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !isTerminal(tty) {
			t.Error("/dev/tty does not count as a terminal")
		}
	}
}

// TestBackupsCreateWait_PrintsNoProgressWhenStdoutIsNotATerminal waits for a backup that runs in
// the background with stdout a pipe, as in a script: only the result comes out.
func TestBackupsCreateWait_PrintsNoProgressWhenStdoutIsNotATerminal(t *testing.T) {
	t.Parallel()
	_, admin, _ := adminOrg(t, "Acme")
	col := createCollection(t, admin, "events")
	// More documents than one step of a backup copies, so the backup answers running and --wait polls.
	for batch := range 6 {
		var docs strings.Builder
		for i := range 1000 {
			fmt.Fprintf(&docs, "{\"n\":%d}\n", batch*1000+i)
		}
		must(t, admin, docs.String(), "documents", "ingest", col, "-o", "id")
	}
	r := cli(t, admin, "", "backups", "create", col, "--wait")
	if r.code != 0 {
		t.Fatalf("backups create --wait: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "\r") || strings.Contains(r.stdout, "documents copied") || r.stderr != "" {
		t.Errorf("progress noise with stdout a pipe:\nstdout %q\nstderr %q", r.stdout, r.stderr)
	}
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "complete") || !strings.Contains(lines[1], "6000") {
		t.Errorf("backups create --wait printed, want the header and the complete backup of 6000 documents:\n%s", r.stdout)
	}
}
