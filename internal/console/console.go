// Package console serves cmekd's web console at /console/: static assets embedded in the binary, a
// token sign-in that becomes a session cookie, and the middleware that turns that cookie into the
// bearer credential of the public API. The console's pages call only the public API from the
// browser; this package holds no business rule.
package console

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cmekd/cmekd/internal/api/respond"
	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/domain"
)

//go:embed assets
var assets embed.FS

// Prefix is where the console is served.
const Prefix = "/console/"

const (
	cookieName = "cmekd_session"
	csrfHeader = "X-CSRF-Token"
	// sessionTTL bounds a stolen cookie's use; the token inside may be revoked sooner through the API.
	sessionTTL = 8 * time.Hour
)

// Config is what the console needs.
type Config struct {
	// API is the public API, asked in-process whether a token signs in.
	API http.Handler
	// Secret seals session cookies; every replica given the same secret accepts the same cookies.
	Secret []byte
	// Clock tells the time sessions expire by; nil means the wall clock.
	Clock clock.Clock
	// Logger receives the errors the console cannot show; nil means slog.Default().
	Logger *slog.Logger
	// Sessions keeps the record of every session, shared by the replicas: a cookie stands for a
	// session only while its record does.
	Sessions Sessions
}

// Sessions records console sessions where every replica sees them, and tells who a session's token is.
type Sessions interface {
	// StartSession records a session of the token secret until expires and returns its id.
	StartSession(ctx context.Context, secret string, expires time.Time) (string, error)
	// SessionLive reports whether session id is live: not ended, not expired, its token not revoked.
	SessionLive(ctx context.Context, id string) (bool, error)
	// EndSession ends session id.
	EndSession(ctx context.Context, id string) error
	// Authenticate resolves the token secret into its role and organisation, as the API does.
	Authenticate(ctx context.Context, secret string) (domain.Principal, error)
}

// Console serves /console/ and authenticates API requests that carry its session cookie.
type Console struct {
	api      http.Handler
	sessions Sessions
	aead     cipher.AEAD
	clock    clock.Clock
	log      *slog.Logger
	static   http.Handler
}

// New returns the console; the cookie key is derived from cfg.Secret with HKDF.
func New(cfg Config) (*Console, error) {
	key, err := hkdf.Key(sha256.New, cfg.Secret, nil, "cmekd console session v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Sessions == nil {
		return nil, errors.New("console: no session store")
	}
	return &Console{api: cfg.API, sessions: cfg.Sessions, aead: aead, clock: clock.Or(cfg.Clock), log: log,
		static: http.StripPrefix(Prefix, http.FileServerFS(sub))}, nil
}

// Wrap serves the console under /console/ and everything else with api, which sees the session
// cookie of a signed-in browser as its bearer token.
func (c *Console) Wrap(api http.Handler) http.Handler {
	authed := c.Authenticate(api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, Prefix) {
			c.ServeHTTP(w, r)
			return
		}
		authed.ServeHTTP(w, r)
	})
}

// session is what the sealed cookie holds: the id of the session's record, and the token it signs in
// with, which the server never stores.
type session struct {
	ID      string `json:"i"`
	Token   string `json:"t"`
	CSRF    string `json:"c"`
	Expires int64  `json:"e"`
}

// ServeHTTP serves the pages, their assets and /console/session (sign in, who am I, sign out).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	switch {
	case r.URL.Path == "/console":
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
	case r.URL.Path == Prefix+"session":
		c.session(w, r)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		c.fail(w, r, errPagesReadOnly)
	default:
		c.static.ServeHTTP(w, r)
	}
}

func (c *Console) session(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s, err := c.open(r)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		c.signedIn(w, r, s)
	case http.MethodPost:
		if !sameOrigin(r) {
			c.fail(w, r, errOtherOrigin)
			return
		}
		var in struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil {
			c.fail(w, r, errSignInBody)
			return
		}
		if strings.TrimSpace(in.Token) == "" {
			c.fail(w, r, errNoToken)
			return
		}
		token := strings.TrimSpace(in.Token)
		if !c.accepted(r, token) {
			c.fail(w, r, errBadToken)
			return
		}
		var b [16]byte
		_, _ = rand.Read(b[:])
		expires := c.clock.Now().Add(sessionTTL)
		id, err := c.sessions.StartSession(r.Context(), token, expires)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		s := session{ID: id, Token: token, CSRF: hex.EncodeToString(b[:]), Expires: expires.Unix()}
		http.SetCookie(w, c.cookie(r, c.seal(s), int(sessionTTL/time.Second)))
		c.signedIn(w, r, s)
	case http.MethodDelete:
		// The record goes, so the cookie is refused everywhere even if the browser keeps it.
		if s, err := c.open(r); err == nil {
			if !c.csrfOK(r, s) {
				c.fail(w, r, errSignOutCSRF)
				return
			}
			if err := c.sessions.EndSession(r.Context(), s.ID); err != nil {
				c.fail(w, r, err)
				return
			}
		}
		http.SetCookie(w, c.cookie(r, "", -1))
		w.WriteHeader(http.StatusNoContent)
	default:
		c.fail(w, r, errSessionMethod)
	}
}

// signedIn answers who the session is: its CSRF token, and its token's role and organisation (empty
// for the admin), which the pages use to offer only what the role may do. The token itself is never
// in the answer.
func (c *Console) signedIn(w http.ResponseWriter, r *http.Request, s session) {
	p, err := c.sessions.Authenticate(r.Context(), s.Token)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	respond.JSON(w, http.StatusOK, map[string]string{"csrf_token": s.CSRF, "role": string(p.Role), "org_id": p.OrgID})
}

// accepted asks the API itself whether token may read organisations: the API alone decides what a
// token is.
func (c *Console) accepted(r *http.Request, token string) bool {
	probe, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/v1/orgs?limit=1", nil)
	if err != nil {
		return false
	}
	probe.Header.Set("Authorization", "Bearer "+token)
	probe.RemoteAddr = r.RemoteAddr
	rec := &statusOnly{header: http.Header{}}
	c.api.ServeHTTP(rec, probe)
	return rec.status == http.StatusOK
}

// statusOnly is a ResponseWriter that keeps only the status: the answer's body is not needed.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header { return s.header }

func (s *statusOnly) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

func (s *statusOnly) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(b), nil
}

// Authenticate gives a request that has no Authorization header but a valid session cookie that
// session's token. Writes also need the session's CSRF token in X-CSRF-Token and, when the browser
// says where it comes from, the same origin.
func (c *Console) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Key events come from the customer's cloud with an api key of their own, never from a
		// browser session: a session cookie neither authenticates them nor asks them for CSRF proof.
		if r.Header.Get("Authorization") != "" || !strings.HasPrefix(r.URL.Path, "/v1/") || strings.HasPrefix(r.URL.Path, "/v1/key-events/") {
			next.ServeHTTP(w, r)
			return
		}
		s, err := c.open(r)
		if errors.Is(err, errNotSignedIn) {
			next.ServeHTTP(w, r) // no session: the API answers 401
			return
		} else if err != nil {
			c.fail(w, r, err)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if !c.csrfOK(r, s) {
				c.fail(w, r, errWriteCSRF)
				return
			}
		}
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+s.Token)
		next.ServeHTTP(w, r)
	})
}

func (c *Console) csrfOK(r *http.Request, s session) bool {
	got := r.Header.Get(csrfHeader)
	return sameOrigin(r) && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

// sameOrigin refuses a request whose Origin (sent by browsers on every write) is another site.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (c *Console) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: cookieName, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"}
}

// seal encrypts and authenticates s: the browser holds the token but cannot read or alter it.
func (c *Console) seal(s session) string {
	plain, _ := json.Marshal(s)
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plain)+c.aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(c.aead.Seal(nonce, nonce, plain, []byte(cookieName)))
}

// open returns the request's live session: its cookie is one this console sealed, not expired, and
// the session's record is still there (not ended by signing out or by revoking its token). Without
// one the error is errNotSignedIn.
func (c *Console) open(r *http.Request) (session, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, errNotSignedIn
	}
	s, err := c.unseal(ck.Value)
	if err != nil || s.ID == "" || c.clock.Now().Unix() >= s.Expires {
		return session{}, errNotSignedIn
	}
	live, err := c.sessions.SessionLive(r.Context(), s.ID)
	if err != nil {
		return session{}, err
	}
	if !live {
		return session{}, errNotSignedIn
	}
	return s, nil
}

func (c *Console) unseal(v string) (session, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) < c.aead.NonceSize() {
		return session{}, errors.New("malformed session")
	}
	n := c.aead.NonceSize()
	plain, err := c.aead.Open(nil, b[:n], b[n:], []byte(cookieName))
	if err != nil {
		return session{}, err
	}
	var s session
	err = json.Unmarshal(plain, &s)
	return s, err
}

// The console's refusals, in the API's vocabulary: the same kinds, codes and statuses.
var (
	errPagesReadOnly = domain.Errorf(domain.KindMethodNotAllowed, domain.CodeMethodNotAllowed, "the console's pages are read with GET")
	errSessionMethod = domain.Errorf(domain.KindMethodNotAllowed, domain.CodeMethodNotAllowed, "GET, POST or DELETE")
	errNotSignedIn   = domain.Errorf(domain.KindUnauthenticated, domain.CodeUnauthorized, "not signed in")
	errBadToken      = domain.Errorf(domain.KindUnauthenticated, domain.CodeUnauthorized, "that token is not valid")
	errOtherOrigin   = domain.Errorf(domain.KindForbidden, domain.CodeForbidden, "sign in from the console's own page")
	errSignOutCSRF   = domain.Errorf(domain.KindForbidden, domain.CodeForbidden, "missing or wrong "+csrfHeader)
	errWriteCSRF     = domain.Errorf(domain.KindForbidden, domain.CodeForbidden, "missing or wrong "+csrfHeader+"; reload the console")
	errSignInBody    = domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "send {\"token\": \"…\"}")
	errNoToken       = domain.Invalid("token", "token is required: send {\"token\": \"…\"}")
)

// fail answers err through the API's one writer of error bodies, with a request id of its own: the
// console answers before the API's middleware has given the request one.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	respond.Error(w, respond.WithRequestID(w, r), c.log, err)
}
