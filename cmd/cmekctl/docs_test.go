package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// runnableMark is the line that precedes a shell block of the docs that runs as written against
// dev mode (an HTML comment, so it does not show when the page is rendered).
const runnableMark = "<!-- runnable -->"

// shellBlock is one ```sh block of a page of the docs.
type shellBlock struct {
	page     string
	line     int // where the block starts, 1-based
	runnable bool
	text     string
}

// docShellBlocks reads every ```sh block of README.md and docs/*.md.
func docShellBlocks(t *testing.T) []shellBlock {
	t.Helper()
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{"../../README.md"}, pages...)
	var blocks []shellBlock
	for _, page := range pages {
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(raw), "\n")
		for i := 0; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) != "```sh" {
				continue
			}
			b := shellBlock{page: strings.TrimPrefix(page, "../../"), line: i + 1,
				runnable: i > 0 && strings.TrimSpace(lines[i-1]) == runnableMark}
			var body []string
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				body = append(body, lines[i])
			}
			b.text = strings.Join(body, "\n") + "\n"
			blocks = append(blocks, b)
		}
	}
	if len(blocks) == 0 {
		t.Fatal("no ```sh blocks in README.md and docs/")
	}
	return blocks
}

// logicalLines joins the backslash-continued lines of a shell block.
func logicalLines(text string) []string {
	return strings.Split(strings.ReplaceAll(text, "\\\n", " "), "\n")
}

var (
	cmekctlCall = regexp.MustCompile(`(?:^|[\s(|;&])cmekctl((?:\s+[a-z][a-z-]*)*)`)
	awsCall     = regexp.MustCompile(`(?:^|[\s(|;&])aws\s`)
	// commonVar is an assignment to a variable the shell or the user's other tools rely on.
	commonVar = regexp.MustCompile(`(?:^|[\s;(])(?:export\s+)?(HOME|PATH|USER|PWD|OLDPWD|SHELL|TERM|LANG|TMPDIR|IFS|PS1|EDITOR|HOSTNAME|UID)=(\S*)`)
)

// TestDocs_ShellExamplesNameRealCommandsAndTheEmulator: every cmekctl command a shell example of the
// docs names exists, every aws line names the emulator's endpoint, and no example clobbers a common
// shell variable.
func TestDocs_ShellExamplesNameRealCommandsAndTheEmulator(t *testing.T) {
	t.Parallel()
	known := map[string]bool{"help": true, "version": true, "completion": true}
	for _, c := range commands {
		known[c.name] = true
	}
	for _, b := range docShellBlocks(t) {
		for _, line := range logicalLines(b.text) {
			code, _, _ := strings.Cut(line, " #") // a comment may name things that are not commands
			if strings.HasPrefix(strings.TrimSpace(code), "#") {
				continue
			}
			for _, m := range cmekctlCall.FindAllStringSubmatch(code, -1) {
				words := strings.Fields(m[1])
				if len(words) == 0 {
					continue
				}
				if !known[words[0]] && !(len(words) > 1 && known[words[0]+" "+words[1]]) {
					t.Errorf("%s:%d: cmekctl has no command %q: %s", b.page, b.line, strings.Join(words, " "), line)
				}
			}
			if awsCall.MatchString(code) && !strings.Contains(code, `--endpoint-url "$CMEKD_DEV_KMS"`) {
				t.Errorf("%s:%d: an aws line without --endpoint-url \"$CMEKD_DEV_KMS\": %s", b.page, b.line, line)
			}
			for _, m := range commonVar.FindAllStringSubmatch(code, -1) {
				if m[1] == "PATH" && strings.Contains(m[2], "$PATH") {
					continue // extends PATH, keeps what was there
				}
				t.Errorf("%s:%d: assigns the common shell variable %s: %s", b.page, b.line, m[1], line)
			}
		}
	}
}

// awsV2 is the first aws on PATH that is the AWS CLI v2 (pip's awscli is v1, which the emulator's
// examples are not written for), or "".
func awsV2() string {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "aws")
		if out, err := exec.Command(p, "--version").Output(); err == nil && strings.HasPrefix(string(out), "aws-cli/2") {
			return p
		}
	}
	return ""
}

// TestDocs_RunnableExamplesRunAgainstDevMode runs every shell block of README.md and docs/*.md marked
// runnable, as written and in one bash, against dev mode, with the exports its banner prints.
func TestDocs_RunnableExamplesRunAgainstDevMode(t *testing.T) {
	t.Parallel()
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	aws := awsV2()
	ran, skipped := 0, 0
	for _, b := range docShellBlocks(t) {
		if !b.runnable {
			continue
		}
		if aws == "" && awsCall.MatchString(b.text) {
			skipped++
			t.Logf("%s:%d: skipped: it needs the AWS CLI v2 (Debian's awscli) on PATH", b.page, b.line)
			continue
		}
		ran++
		script.WriteString("\n# " + b.page + ":" + strconv.Itoa(b.line) + "\nprintf '\\n### %s\\n' '" + b.page + ":" + strconv.Itoa(b.line) + "'\nset -x\n")
		script.WriteString(b.text)
		script.WriteString("set +x\n")
	}
	if ran == 0 {
		t.Fatal("no runnable shell block ran")
	}

	banner := testserver.StartDev(t)
	bin := t.TempDir()
	if err := os.Symlink(binary, filepath.Join(bin, "cmekctl")); err != nil {
		t.Fatal(err)
	}
	if aws != "" {
		if err := os.Symlink(aws, filepath.Join(bin, "aws")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + bin + ":" + os.Getenv("PATH"), "TMPDIR=" + t.TempDir(),
		// The key owner's aws lines carry their endpoint and credentials; nothing of this user's AWS set-up may leak in.
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER="}
	var token string
	for _, m := range regexp.MustCompile(`export ((?:\w+=\S+ ?)+)`).FindAllStringSubmatch(banner, -1) {
		for _, kv := range strings.Fields(m[1]) {
			cmd.Env = append(cmd.Env, kv)
			if v, ok := strings.CutPrefix(kv, "CMEKD_TOKEN="); ok {
				token = v
			}
		}
	}
	if token == "" {
		t.Fatal("dev mode's banner exports no CMEKD_TOKEN")
	}
	out, err := cmd.CombinedOutput()
	text := strings.ReplaceAll(string(out), token, "<token>")
	if err != nil {
		t.Fatalf("the docs' runnable examples failed: %v\n%s", err, text)
	}
	t.Logf("%d runnable blocks ran, %d skipped", ran, skipped)
}
