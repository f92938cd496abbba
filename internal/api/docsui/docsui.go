// Package docsui serves the OpenAPI document rendered in the browser: a page and the vendored,
// pinned Redoc bundle that renders /openapi.yaml, both embedded in the binary (see README.md for
// the bundle's package and version).
package docsui

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// PagePath and BundlePath are where the page and the renderer are served; the page names the
// bundle by BundlePath.
const (
	PagePath   = "/docs"
	BundlePath = "/docs/redoc.standalone.js"
)

var (
	//go:embed index.html
	page []byte
	//go:embed redoc.standalone.js
	bundle []byte
)

// bundleETag names the bundle's bytes, so a browser revalidates it cheaply after an upgrade.
var bundleETag = func() string {
	sum := sha256.Sum256(bundle)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// The page loads its script and the document from this origin only; Redoc's styles are injected
// inline and its search runs in a worker made from a blob.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Page serves the HTML page; it is revalidated on every visit, as it is tiny.
func Page(w http.ResponseWriter, r *http.Request) {
	serve(w, r, "index.html", page, "Content-Type", "text/html; charset=utf-8", "Cache-Control", "no-cache",
		"Content-Security-Policy", contentSecurityPolicy, "Referrer-Policy", "no-referrer")
}

// Bundle serves the renderer: cached for a day, then revalidated by its ETag (304 while unchanged).
func Bundle(w http.ResponseWriter, r *http.Request) {
	serve(w, r, "redoc.standalone.js", bundle, "Content-Type", "text/javascript; charset=utf-8",
		"Cache-Control", "public, max-age=86400", "ETag", bundleETag)
}

// serve answers content as the file name with the headers given as name, value pairs, and never
// lets the browser guess its type.
func serve(w http.ResponseWriter, r *http.Request, name string, content []byte, header ...string) {
	h := w.Header()
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(content))
}
