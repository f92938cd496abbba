package console_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/testing/testserver"
)

// browser is an HTTP client with a cookie jar, as a browser on the console's origin would be.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar}}
}

func (b *browser) do(method, path string, body any, header map[string]string) (int, http.Header, map[string]any) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, resp.Header, m
}

func code(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestSession_CookieStandsForTheTokenAndWritesNeedTheCSRFToken(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, nil)
	b := newBrowser(t, s.URL)

	if st, _, m := b.do("POST", "/console/session", map[string]string{"token": "cmekd_wrong"}, nil); st != 401 || code(m) != "unauthorized" {
		t.Fatalf("sign in with a wrong token: %d %v", st, m)
	}
	st, hdr, m := b.do("POST", "/console/session", map[string]string{"token": testserver.AdminToken}, map[string]string{"Origin": s.URL})
	if st != 200 {
		t.Fatalf("sign in: %d %v", st, m)
	}
	csrf, _ := m["csrf_token"].(string)
	ck := hdr.Get("Set-Cookie")
	for _, want := range []string{"cmekd_session=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(ck, want) {
			t.Errorf("session cookie %q lacks %s", ck, want)
		}
	}
	if csrf == "" || strings.Contains(ck, testserver.AdminToken) {
		t.Fatalf("no CSRF token, or the cookie shows the token in clear")
	}

	// Reads need only the cookie.
	if st, _, m := b.do("GET", "/v1/orgs", nil, nil); st != 200 {
		t.Fatalf("GET /v1/orgs with the session: %d %v", st, m)
	}
	org := map[string]any{"name": "Acme", "region": testserver.Home}
	// A write without the CSRF token, or from another origin, is refused and does nothing.
	if st, _, m := b.do("POST", "/v1/orgs", org, nil); st != 403 || code(m) != "forbidden" {
		t.Errorf("write without X-CSRF-Token: %d %v", st, m)
	}
	if st, _, m := b.do("POST", "/v1/orgs", org, map[string]string{"X-CSRF-Token": csrf, "Origin": "https://evil.example"}); st != 403 {
		t.Errorf("write from another origin: %d %v", st, m)
	}
	wrong := "0" + csrf[1:]
	if csrf[0] == '0' { // the token is hex: change its first digit, whatever it is
		wrong = "1" + csrf[1:]
	}
	if st, _, m := b.do("POST", "/v1/orgs", org, map[string]string{"X-CSRF-Token": wrong}); st != 403 {
		t.Errorf("write with a wrong CSRF token: %d %v", st, m)
	}
	if _, _, m := b.do("GET", "/v1/orgs", nil, nil); len(m["orgs"].([]any)) != 0 {
		t.Fatalf("a refused write created something: %v", m)
	}
	if st, _, m := b.do("POST", "/v1/orgs", org, map[string]string{"X-CSRF-Token": csrf, "Origin": s.URL}); st != 201 {
		t.Fatalf("write with the CSRF token: %d %v", st, m)
	}
	if st, _, m := b.do("GET", "/console/session", nil, nil); st != 200 || m["csrf_token"] != csrf || m["role"] != "admin" || m["org_id"] != "" {
		t.Errorf("GET /console/session: %d %v", st, m)
	}

	// A forged or altered cookie is no session: the API answers 401 as to anyone without a token.
	forged := newBrowser(t, s.URL)
	req, _ := http.NewRequest("GET", s.URL+"/v1/orgs", nil)
	v := strings.TrimPrefix(strings.SplitN(ck, ";", 2)[0], "cmekd_session=")
	req.AddCookie(&http.Cookie{Name: "cmekd_session", Value: v[:len(v)-2] + "AA"})
	resp, err := forged.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("altered cookie: %d", resp.StatusCode)
	}

	// Signing out clears the cookie.
	if st, _, _ := b.do("DELETE", "/console/session", nil, map[string]string{"X-CSRF-Token": csrf}); st != 204 {
		t.Errorf("sign out: %d", st)
	}
	if st, _, _ := b.do("GET", "/v1/orgs", nil, nil); st != 401 {
		t.Errorf("after sign out: %d, want 401", st)
	}
	if strings.Contains(s.Logs(), testserver.AdminToken) {
		t.Error("the server logged the token")
	}
}

func TestConsole_ServesEmbeddedPagesWithAStrictPolicy(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, nil)
	for path, want := range map[string]string{"/console/": "<title>cmekd console</title>", "/console/app.js": "X-CSRF-Token", "/console/app.css": ":root"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
}
