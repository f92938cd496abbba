package docsui_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// noRedirects is a client that reports redirects instead of following them.
var noRedirects = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func get(t *testing.T, rawURL string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// reference matches every URL the page names: src, href and Redoc's spec-url.
var reference = regexp.MustCompile(`(?i)\b(?:src|href|spec-url)\s*=\s*"([^"]*)"`)

// TestBrowserRoutes_ServeTheRenderedReferenceAndSendTheRootToTheConsole drives the real server.
func TestBrowserRoutes_ServeTheRenderedReferenceAndSendTheRootToTheConsole(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, nil)

	t.Run("the root redirects to the console", func(t *testing.T) {
		resp, _ := get(t, srv.URL+"/", nil)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/console/" {
			t.Errorf("GET / = %d Location %q, want 302 to /console/", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("/docs is HTML that names only same-origin assets, each served", func(t *testing.T) {
		resp, body := get(t, srv.URL+"/docs", nil)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /docs = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("Content-Security-Policy %q does not hold scripts and fetches to this origin", csp)
		}
		refs := reference.FindAllStringSubmatch(string(body), -1)
		if len(refs) < 2 {
			t.Fatalf("the page names %d URLs, want the bundle and the document:\n%s", len(refs), body)
		}
		names := map[string]bool{}
		for _, m := range refs {
			u, err := url.Parse(m[1])
			if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/") {
				t.Errorf("the page names %q, which is not a path on this server", m[1])
				continue
			}
			names[u.Path] = true
			if r, _ := get(t, srv.URL+u.Path, nil); r.StatusCode != http.StatusOK {
				t.Errorf("GET %s = %d", u.Path, r.StatusCode)
			}
		}
		for _, want := range []string{"/openapi.yaml", "/docs/redoc.standalone.js"} {
			if !names[want] {
				t.Errorf("the page does not name %s", want)
			}
		}
	})

	t.Run("the renderer is JavaScript, cached and revalidated by its ETag", func(t *testing.T) {
		resp, body := get(t, srv.URL+"/docs/redoc.standalone.js", nil)
		if resp.StatusCode != http.StatusOK || len(body) < 100_000 {
			t.Fatalf("GET the bundle = %d, %d bytes", resp.StatusCode, len(body))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") || strings.Contains(cc, "no-store") {
			t.Errorf("Cache-Control %q lets no browser keep the bundle", cc)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("no X-Content-Type-Options: nosniff")
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		again, rest := get(t, srv.URL+"/docs/redoc.standalone.js", http.Header{"If-None-Match": {etag}})
		if again.StatusCode != http.StatusNotModified || len(rest) != 0 {
			t.Errorf("revalidating with If-None-Match = %d, %d bytes; want 304 and no body", again.StatusCode, len(rest))
		}
	})

	t.Run("Chromium renders the operations and reaches no other origin", func(t *testing.T) {
		ctx := browser(t)
		// Redoc's bundle asks for its makers' logo from their CDN: the page's policy must stop that
		// request, and any other to a foreign origin, before it leaves the browser. The browser
		// reports each request the policy stopped to this listener, set up before the page loads.
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.cspBlocked = []; document.addEventListener('securitypolicyviolation', e => window.cspBlocked.push(e.blockedURI));`,
		}); err != nil {
			t.Fatal(err)
		}
		summary := "Create an organisation and link its key for good." // createOrg's summary
		rendered := fmt.Sprintf(`document.body.innerText.includes(%q)`, summary)
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/docs"),
			chromedp.Poll[chromedp.Void](rendered, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
			t.Fatalf("createOrg's summary never showed: %v\npage text:\n%s", err, text)
		}
		// The browser reports a violation after the fact: wait a little for the reports of the
		// foreign requests already seen (the check below fails on any that never comes).
		settled := `performance.getEntriesByType('resource').map(e => e.name).filter(n => new URL(n).origin !== location.origin && !/^(data|blob):/.test(n)).every(n => window.cspBlocked.includes(n))`
		waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = chromedp.Do(waitCtx, chromedp.Poll[chromedp.Void](settled, chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		type requests struct {
			Foreign []string `json:"foreign"`
			Blocked []string `json:"blocked"`
		}
		seen, err := chromedp.Run(ctx, chromedp.Evaluate[requests](`({
			foreign: performance.getEntriesByType('resource').map(e => e.name).filter(n => new URL(n).origin !== location.origin && !/^(data|blob):/.test(n)),
			blocked: window.cspBlocked,
		})`))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("requests to other origins: %q; stopped by the page's policy: %q", seen.Foreign, seen.Blocked)
		for _, u := range seen.Foreign {
			if !slices.Contains(seen.Blocked, u) {
				t.Errorf("the page fetched %s from another origin", u)
			}
		}
	})
}

// browser starts headless Chromium for the test, or skips saying why.
func browser(t *testing.T) context.Context {
	t.Helper()
	var exe string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		t.Skip("no Chromium on PATH (locally: apt-get install chromium)")
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		// Containers often have a tiny /dev/shm, where Chromium's tabs crash.
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Skipf("Chromium (%s) does not start here: %v", exe, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
