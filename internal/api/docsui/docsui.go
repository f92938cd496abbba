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
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(page))
}

// Bundle serves the renderer: cached for a day, then revalidated by its ETag (304 while unchanged).
func Bundle(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("ETag", bundleETag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "redoc.standalone.js", time.Time{}, bytes.NewReader(bundle))
}
