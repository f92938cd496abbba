package version

import (
	"os"
	"os/exec"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestFromBuildInfo_StampWinsThenVCSThenUnknown(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		{Key: "vcs.modified", Value: "true"}}}
	tests := []struct {
		name string
		in   Info
		want Info
	}{
		{"unstamped: the build info", Info{}, Info{Version: "(devel)", Commit: "0123456789abcdef-dirty", Date: "2026-01-02T03:04:05Z"}},
		{"stamped: the stamp", Info{Version: "v1.2.3", Commit: "feedface", Date: "2026-02-03T00:00:00Z"},
			Info{Version: "v1.2.3", Commit: "feedface", Date: "2026-02-03T00:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromBuildInfo(tt.in, bi); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestGet_NeverEmpty(t *testing.T) {
	i := Get()
	if i.Version == "" || i.Commit == "" || i.Date == "" || !strings.HasPrefix(i.GoVersion, "go") {
		t.Errorf("Get() = %+v", i)
	}
	if s := i.String(); !strings.Contains(s, "commit "+i.Commit) || !strings.Contains(s, "built "+i.Date) {
		t.Errorf("String() = %q", s)
	}
}

func TestCollector_BuildInfoIsOneWithItsLabels(t *testing.T) {
	old := [3]string{Version, Commit, Date}
	Version, Commit, Date = "v9.9.9", "abc", "2026-03-04T05:06:07Z"
	t.Cleanup(func() { Version, Commit, Date = old[0], old[1], old[2] })
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector())
	want := `# HELP cmekd_build_info The running build: version, commit, build date and Go version as labels; always 1.
# TYPE cmekd_build_info gauge
cmekd_build_info{commit="abc",date="2026-03-04T05:06:07Z",goversion="` + Get().GoVersion + `",version="v9.9.9"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cmekd_build_info"); err != nil {
		t.Error(err)
	}
}

// TestMake_BuildStampsAndHelpListsEveryTarget: make build passes the three -X stamps, and make help
// lists every target of the Makefile with its description.
func TestMake_BuildStampsAndHelpListsEveryTarget(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	dry, err := exec.Command("make", "-C", "../..", "-n", "build").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, dry)
	}
	for _, v := range []string{"Version", "Commit", "Date"} {
		if !strings.Contains(string(dry), "-X github.com/cmekd/cmekd/internal/version."+v+"=") {
			t.Errorf("make build does not stamp version.%s:\n%s", v, dry)
		}
	}
	help, err := exec.Command("make", "-s", "-C", "../..", "help").Output()
	if err != nil {
		t.Fatalf("make help: %v", err)
	}
	raw, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z-]*):`).FindAllStringSubmatch(string(raw), -1) {
		if !regexp.MustCompile(`(?m)^\s*` + m[1] + `\s+\S`).Match(help) {
			t.Errorf("make help does not list %s with a description:\n%s", m[1], help)
		}
	}
}
