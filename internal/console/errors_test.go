package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/console"
	"github.com/cmekd/cmekd/internal/domain"
)

// TestConsole_ErrorsSpeakTheAPIsVocabulary holds every refusal of the console to the API's error
// shape: the status the API gives the same fault, its code, an empty details object and the request
// id of the X-Request-Id header.
func TestConsole_ErrorsSpeakTheAPIsVocabulary(t *testing.T) {
	t.Parallel()
	// The API stand-in accepts one token.
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	c, err := console.New(console.Config{API: api, Secret: []byte("0123456789abcdef0123456789abcdef"), Sessions: &memorySessions{}})
	if err != nil {
		t.Fatal(err)
	}
	h := c.Wrap(api)

	signIn := httptest.NewRequest(http.MethodPost, "/console/session", strings.NewReader(`{"token":"good"}`))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signIn)
	if rec.Code != http.StatusOK || len(rec.Result().Cookies()) == 0 {
		t.Fatalf("sign in: %d %s", rec.Code, rec.Body)
	}
	cookie := rec.Result().Cookies()[0]

	tests := []struct {
		name, method, path, body string
		cookie                   bool
		status                   int
		code                     string
	}{
		{"page written to", http.MethodPost, "/console/index.html", "", false, 405, "method_not_allowed"},
		{"session method", http.MethodPut, "/console/session", "", false, 405, "method_not_allowed"},
		{"not signed in", http.MethodGet, "/console/session", "", false, 401, "unauthorized"},
		{"token refused", http.MethodPost, "/console/session", `{"token":"bad"}`, false, 401, "unauthorized"},
		{"body not JSON", http.MethodPost, "/console/session", `{"token":`, false, 400, "invalid_json"},
		{"no token", http.MethodPost, "/console/session", `{"token":" "}`, false, 422, "invalid_request"},
		{"write without CSRF token", http.MethodPost, "/v1/orgs", `{}`, true, 403, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			req.Header.Set("X-Request-Id", "req_console_test")
			if tt.cookie {
				req.AddCookie(cookie)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var body struct {
				Error struct {
					Code    string         `json:"code"`
					Message string         `json:"message"`
					Details map[string]any `json:"details"`
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tt.status || body.Error.Code != tt.code {
				t.Fatalf("got %d %s, want %d %s", rec.Code, body.Error.Code, tt.status, tt.code)
			}
			if body.Error.Message == "" || body.Error.Details == nil || body.RequestID != "req_console_test" ||
				rec.Header().Get("X-Request-Id") != "req_console_test" {
				t.Errorf("body %s, X-Request-Id %q", rec.Body, rec.Header().Get("X-Request-Id"))
			}
			if got := rec.Header().Get("WWW-Authenticate"); (tt.status == 401) != (got != "") {
				t.Errorf("WWW-Authenticate %q on %d", got, tt.status)
			}
		})
	}
}

// memorySessions is a session store in memory, for a console without a database.
type memorySessions struct {
	mu   sync.Mutex
	live map[string]bool
	n    int
}

func (m *memorySessions) StartSession(context.Context, string, time.Time) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live == nil {
		m.live = map[string]bool{}
	}
	m.n++
	id := "ses_" + strings.Repeat("x", m.n)
	m.live[id] = true
	return id, nil
}

func (m *memorySessions) SessionLive(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live[id], nil
}

// Authenticate knows one token, "good", as an operator of org_test.
func (m *memorySessions) Authenticate(_ context.Context, secret string) (domain.Principal, error) {
	if secret != "good" {
		return domain.Principal{}, domain.Errorf(domain.KindUnauthenticated, domain.CodeUnauthorized, "not a token")
	}
	return domain.Principal{Role: domain.RoleOperator, OrgID: "org_test", TokenID: "tok_test"}, nil
}

func (m *memorySessions) EndSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.live, id)
	return nil
}
