package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCompletion_BashCompletesCommandsSubcommandsAndFlags sources the bash script the binary prints
// and asks it what it completes, as bash would on Tab.
func TestCompletion_BashCompletesCommandsSubcommandsAndFlags(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on PATH")
	}
	script := filepath.Join(t.TempDir(), "cmekctl.bash")
	if err := os.WriteFile(script, []byte(must(t, nil, "", "completion", "bash")), 0o600); err != nil {
		t.Fatal(err)
	}
	complete := func(line string) []string {
		t.Helper()
		words := strings.Split(line, " ")
		prog := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _cmekctl; printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command(bash, append([]string{"-c", prog, "bash", script}, words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("complete %q: %v\n%s", line, err, out)
		}
		return strings.Fields(string(out))
	}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"cmekctl ", []string{"orgs", "key-check", "regions", "backups", "grants", "completion", "version"}},
		{"cmekctl or", []string{"orgs"}},
		{"cmekctl orgs ", []string{"create", "get", "list", "rename", "delete"}},
		{"cmekctl orgs create --", []string{"--name", "--region", "--key-id", "--provider", "--key-arn", "--help"}},
		{"cmekctl key-check --", []string{"--provider", "--region", "--help"}},
		{"cmekctl key-policy --p", []string{"--provider", "--principal"}},
		{"cmekctl backups create col_x --", []string{"--wait", "--org"}},
		{"cmekctl grants ", []string{"list", "renew"}},
	} {
		got := complete(tc.line)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q completes to %q, without %q", tc.line, got, w)
			}
		}
	}
	if got := complete("cmekctl orgs create --k"); slices.Contains(got, "--wait") || slices.Contains(got, "--name") {
		t.Errorf("flags of another command, or not matching the prefix: %q", got)
	}
}

// TestCompletion_EveryShellNamesEveryCommandAndFlag holds the three scripts to the command table.
func TestCompletion_EveryShellNamesEveryCommandAndFlag(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out := must(t, nil, "", "completion", shell)
		for _, c := range commands {
			for _, word := range strings.Fields(c.name) {
				if !strings.Contains(out, word) {
					t.Errorf("%s: no %q of %q", shell, word, c.name)
				}
			}
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.setup(fs)
			fs.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(out, f.Name) {
					t.Errorf("%s: no flag %s of %q", shell, f.Name, c.name)
				}
			})
		}
	}
	if zsh, err := exec.LookPath("zsh"); err == nil {
		if b, err := exec.Command(zsh, "-n", "-c", must(t, nil, "", "completion", "zsh")).CombinedOutput(); err != nil {
			t.Errorf("zsh -n: %v\n%s", err, b)
		}
	}
	if fish, err := exec.LookPath("fish"); err == nil {
		if b, err := exec.Command(fish, "--no-execute", "-c", must(t, nil, "", "completion", "fish")).CombinedOutput(); err != nil {
			t.Errorf("fish --no-execute: %v\n%s", err, b)
		}
	}
	if r := cli(t, nil, "", "completion", "tcsh"); r.code == 0 || !strings.Contains(r.stderr, "bash, zsh or fish") {
		t.Errorf("completion tcsh: exit %d, stderr %q", r.code, r.stderr)
	}
}
