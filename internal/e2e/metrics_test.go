package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetrics_LabelsAreBounded: methods a client makes up fold into "other", so /metrics does not
// grow with what clients send (SPEC §16).
func TestMetrics_LabelsAreBounded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for i := range 50 {
		r, err := http.NewRequest(fmt.Sprintf("X%dMETHOD", i), e.url+"/v1/orgs", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), "METHOD") {
		t.Fatalf("a client's made-up method became a label")
	}
	if !strings.Contains(string(b), `method="other"`) {
		t.Fatalf("no method=\"other\" series after 50 made-up methods")
	}
}
