package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// consoleSession is a browser's console session: its cookie and CSRF token.
type consoleSession struct {
	cookie *http.Cookie
	csrf   string
}

// signIn signs in to the console of e with token.
func (e *env) signIn(token string) consoleSession {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"token": token})
	hr, _ := http.NewRequest("POST", e.url+"/console/session", bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("sign in: %d (%v)", resp.StatusCode, err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "cmekd_session" {
			return consoleSession{cookie: c, csrf: out.CSRF}
		}
	}
	e.t.Fatal("sign in set no session cookie")
	return consoleSession{}
}

// withCookie sends method path to e with nothing but the session's cookie (and its CSRF token on
// writes), as a replayed cookie would be, and returns the status.
func (e *env) withCookie(s consoleSession, method, path string) int {
	e.t.Helper()
	hr, _ := http.NewRequest(method, e.url+path, nil)
	hr.AddCookie(s.cookie)
	if method != "GET" {
		hr.Header.Set("X-CSRF-Token", s.csrf)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestConsoleSession_SignOutEndsItOnEveryReplica: once a browser signs out through one replica, its
// cookie, replayed, is refused by both, for the admin token and an organisation's.
func TestConsoleSession_SignOutEndsItOnEveryReplica(t *testing.T) {
	t.Parallel()
	a := setup(t)
	b := a.replica()
	org := a.createOrg("Sessions")
	for name, token := range map[string]string{"admin": adminToken, "owner": a.token(org, "owner")} {
		s := a.signIn(token)
		kept := consoleSession{cookie: s.cookie, csrf: s.csrf} // what a thief copied
		for _, r := range []*env{a, b} {
			if st := r.withCookie(s, "GET", "/v1/orgs/"+org); st != http.StatusOK {
				t.Fatalf("%s: the session reads the organisation on a replica: %d", name, st)
			}
		}
		if st := b.withCookie(s, "DELETE", "/console/session"); st != http.StatusNoContent {
			t.Fatalf("%s: sign out: %d", name, st)
		}
		for i, r := range []*env{a, b} {
			if st := r.withCookie(kept, "GET", "/v1/orgs/"+org); st != http.StatusUnauthorized {
				t.Errorf("%s: replayed cookie after sign-out on replica %d: %d, want 401", name, i, st)
			}
			if st := r.withCookie(kept, "GET", "/console/session"); st != http.StatusUnauthorized {
				t.Errorf("%s: GET /console/session with the replayed cookie on replica %d: %d, want 401", name, i, st)
			}
		}
	}
}

// TestConsoleSession_RevokingItsTokenEndsItOnEveryReplica: revoking the token behind a session, on one
// replica, ends the session on both, and its record goes with the revocation.
func TestConsoleSession_RevokingItsTokenEndsItOnEveryReplica(t *testing.T) {
	t.Parallel()
	a := setup(t)
	b := a.replica()
	org := a.createOrg("Revoked")
	tok := a.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/tokens", token: adminToken,
		body: map[string]any{"name": "console user", "role": "operator"}})
	s := a.signIn(tok["token"].(string))
	if st := b.withCookie(s, "GET", "/console/session"); st != http.StatusOK {
		t.Fatalf("the session on the other replica: %d", st)
	}
	b.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org + "/tokens/" + tok["id"].(string), token: adminToken})
	for i, r := range []*env{a, b} {
		for _, path := range []string{"/console/session", "/v1/orgs/" + org} {
			if st := r.withCookie(s, "GET", path); st != http.StatusUnauthorized {
				t.Errorf("replica %d: GET %s with the revoked token's cookie: %d, want 401", i, path, st)
			}
		}
	}
	if n := a.count(`SELECT count(*) FROM console_sessions WHERE token_id = $1`, tok["id"]); n != 0 {
		t.Errorf("%d session records of the revoked token remain", n)
	}
	if strings.Contains(a.logs.String()+b.logs.String(), tok["token"].(string)) {
		t.Error("a server logged the token")
	}
}
