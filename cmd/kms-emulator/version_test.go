package main

import (
	"os"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/version"
)

func TestVersion_PrintsVersionCommitAndDate(t *testing.T) {
	var out, logs strings.Builder
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	if err := run(t.Context(), []string{"-version"}, &logs); err != nil {
		t.Fatal(err)
	}
	if want := "kms-emulator " + version.Get().String() + "\n"; out.String() != want {
		t.Errorf("kms-emulator -version printed %q, want %q", out.String(), want)
	}
}
