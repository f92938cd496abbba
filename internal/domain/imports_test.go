package domain_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// httpAllowed are the directories whose code may import net/http: the HTTP interface, the server
// that serves it, the KMS client and emulator and the webhook dispatcher (HTTP is their transport),
// the binaries, the cloud emulators and the test support that checks real HTTP traffic. Every other
// package speaks domain types only, so that no HTTP status ever leaks into a rule.
var httpAllowed = []string{
	"cmd/",
	"internal/api/",
	"internal/server/",
	"internal/kms/",
	"internal/webhooks/",   // delivers over HTTP
	"internal/console/",    // serves the web console beside the API
	"internal/testing/",    // test support: starts real servers, checks real HTTP traffic
	"client/",              // the public Go client of the API
	"emulator/",            // the cloud emulators, a product of their own
	"internal/provider/",   // the clouds' SDKs speak HTTP (Azure's transport is cmekd's to set)
	"internal/tfprovider/", // the Terraform provider, a client of the API
}

// TestLayering_NetHTTPOnlyAtTheEdges fails when a package outside httpAllowed imports net/http.
func TestLayering_NetHTTPOnlyAtTheEdges(t *testing.T) {
	t.Parallel()
	root := testkit.ModuleRoot(t)
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		for _, dir := range httpAllowed {
			if strings.HasPrefix(rel, dir) {
				return nil
			}
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == `"net/http"` {
				t.Errorf("%s imports net/http; only %v may", rel, httpAllowed)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
