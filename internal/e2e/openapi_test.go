package e2e_test

import (
	"strings"
	"testing"
)

// TestOpenAPI_DescribesEveryRoute fails when the router serves a route the document lacks.
func TestOpenAPI_DescribesEveryRoute(t *testing.T) {
	t.Parallel()
	e := setup(t)
	routes := e.srv.Routes()
	if len(routes) < 10 {
		t.Fatalf("only %d routes: %v", len(routes), routes)
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		if len(path) > 1 {
			path = strings.TrimSuffix(path, "/")
		}
		if !e.api.HasOperation(method, path) {
			t.Errorf("%s %s is served but not in openapi/openapi.yaml", method, path)
		}
	}
}
