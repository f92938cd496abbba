// Package e2e_test drives the real cmekd server over real HTTP against a fresh PostgreSQL database,
// validating every exchange against the OpenAPI document.
package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/server"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/openapitest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/cmekd/cmekd/internal/testing/testserver"
)

const adminToken = "admin-token-for-tests-0123456789abcdef"

// home is the region organisations live in unless a test says otherwise; the emulator's home too.
const home = kmstest.EmulatorRegion

// env is one running server with its own database.
type env struct {
	t     testing.TB
	url   string
	dbURL string
	srv   *server.Server
	logs  *testkit.SyncBuffer
	api   *openapitest.Validator
	db    *pgxpool.Pool
	kms   *kmstest.Env
	cfg   config.Config
	clock clock.Clock // nil: the wall clock
	// stop stops the server as a kill would for its leases: its work in flight is cut off and
	// nothing it held is handed back. Cleanup calls it too; it is safe to call twice.
	stop func()
}

// setup starts a server with its own emulator; mutate adjusts its configuration first.
func setup(t testing.TB, mutate ...func(*config.Config)) *env {
	t.Helper()
	return setupWith(t, kmstest.StartEmulator(t), mutate...)
}

// setupWith starts a server against the KMS endpoint kenv, with a fresh database.
func setupWith(t testing.TB, kenv *kmstest.Env, mutate ...func(*config.Config)) *env {
	t.Helper()
	return setupClocked(t, kenv, nil, mutate...)
}

// setupClocked is setupWith with the server's clock (nil: the wall clock).
func setupClocked(t testing.TB, kenv *kmstest.Env, clk clock.Clock, mutate ...func(*config.Config)) *env {
	t.Helper()
	cfg := testConfig(t, kenv)
	for _, m := range mutate {
		m(&cfg)
	}
	return start(t, cfg, kenv, clk)
}

// testConfig is a server's configuration against kenv with a fresh database and a new provider key.
func testConfig(t testing.TB, kenv *kmstest.Env) config.Config {
	t.Helper()
	dbURL := testkit.Database(t)
	cfg, err := config.Load(map[string]string{
		"CMEKD_ADDR":               "127.0.0.1:0",
		"CMEKD_DATABASE_URL":       dbURL,
		"CMEKD_ADMIN_TOKEN":        adminToken,
		"CMEKD_KMS_ENDPOINT":       kenv.Endpoint,
		"CMEKD_KMS_TIMEOUT":        "2s",
		"CMEKD_PLATFORM_PRINCIPAL": kenv.PlatformPrincipal,
		"CMEKD_PROVIDER_KEY_ARN":   kenv.CreateCustomerKey(t, home, kmstest.KeyOptions{}),
		"CMEKD_REGIONS":            "us-west-2,us-east-1,eu-west-1",
		// Test receivers listen on loopback over plain http.
		"CMEKD_WEBHOOK_HTTP_HOSTS": "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// replica starts a second server on the same database and KMS.
func (e *env) replica(mutate ...func(*config.Config)) *env {
	e.t.Helper()
	cfg := e.cfg
	for _, m := range mutate {
		m(&cfg)
	}
	return start(e.t, cfg, e.kms, e.clock)
}

// start runs a server on cfg; clk is its clock (nil: the wall clock).
func start(t testing.TB, cfg config.Config, kenv *kmstest.Env, clk clock.Clock) *env {
	return startWith(t, cfg, kenv, clk, nil)
}

// startWith is start with the server's options adjusted by tune first (when not nil).
func startWith(t testing.TB, cfg config.Config, kenv *kmstest.Env, clk clock.Clock, tune func(*server.Options)) *env {
	dbURL := cfg.DatabaseURL
	logs := &testkit.SyncBuffer{}
	opts := serverOptions(kenv, logs, clk)
	if cfg.GrantMode() {
		// Two identities: the emulator maps each access key to its role.
		opts.KMSCredentials = credentials.NewStaticCredentialsProvider(kmstest.ControlAccessKey, "test", "")
		opts.DataKMSCredentials = credentials.NewStaticCredentialsProvider(kmstest.DataAccessKey, "test", "")
	}
	if tune != nil {
		tune(&opts)
	}
	srv, stop := testserver.Run(t, cfg, opts)
	db, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close) // before the server stops: cleanups run last first
	return &env{t: t, url: srv.URL(), dbURL: dbURL, srv: srv, logs: logs, api: openapitest.New(t), db: db, kms: kenv, cfg: cfg,
		clock: clk, stop: stop}
}

// serverOptions are the options every test server runs with: the platform's credentials, quick
// verification retries, and logs kept in logs.
func serverOptions(kenv *kmstest.Env, logs io.Writer, clk clock.Clock) server.Options {
	return server.Options{
		Logger:         slog.New(slog.NewJSONHandler(logs, nil)),
		Clock:          clk,
		KMSCredentials: credentials.NewStaticCredentialsProvider(kenv.PlatformAccessKey, "test", ""),
		VerifyBackoff:  []time.Duration{10 * time.Millisecond},
	}
}

// response is what a test sees of an answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as a generic object.
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// Code is the error code of an error body.
func (r response) Code(t testing.TB) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// req is one request to send.
type req struct {
	method, path, token string
	body                any    // marshalled as JSON unless raw is set
	raw                 []byte // sent as is
	contentType         string // default application/json when there is a body
	header              map[string]string
	unvalidated         bool // a route outside the OpenAPI document on purpose
	allow500            bool // a 500 is the right answer (a corrupted row), not a server bug
}

// request is r as an HTTP request carrying body: its content type when there is a body, its
// token and its headers.
func (e *env) request(r req, body []byte) *http.Request {
	e.t.Helper()
	hr, err := http.NewRequest(r.method, e.url+r.path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	return hr
}

// exchange sends r, carrying body, through client and reads the answer, which must carry a
// request id; it returns the request as sent, the answer and its body.
func (e *env) exchange(client *http.Client, r req, body []byte) (*http.Request, *http.Response, []byte) {
	e.t.Helper()
	hr := e.request(r, body)
	resp, err := client.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		e.t.Errorf("%s %s: no X-Request-Id", r.method, r.path)
	}
	return hr, resp, rb
}

// do sends a request and validates the exchange against the OpenAPI document.
func (e *env) do(r req) response {
	e.t.Helper()
	var body []byte
	switch {
	case r.raw != nil:
		body = r.raw
	case r.body != nil:
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			e.t.Fatal(err)
		}
	}
	hr, resp, rb := e.exchange(http.DefaultClient, r, body)
	if resp.StatusCode == http.StatusInternalServerError && !r.allow500 {
		e.t.Errorf("%s %s answered 500: %s", r.method, r.path, rb)
	}
	hr.Body = io.NopCloser(bytes.NewReader(body))
	if !r.unvalidated {
		e.api.Check(e.t, hr, body, resp, rb)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: rb}
}

// must sends a request and fails the test unless it gets status.
func (e *env) must(status int, r req) map[string]any {
	e.t.Helper()
	resp := e.do(r)
	if resp.Status != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", r.method, r.path, resp.Status, status, resp.Body)
	}
	if len(resp.Body) == 0 {
		return nil
	}
	return resp.JSON(e.t)
}

// wantError checks an error answer's status and code.
func (e *env) wantError(status int, code string, r req) response {
	e.t.Helper()
	resp := e.do(r)
	if resp.Status != status || resp.Code(e.t) != code {
		e.t.Fatalf("%s %s: got %d %q, want %d %q: %s", r.method, r.path, resp.Status, resp.Code(e.t), status, code, resp.Body)
	}
	return resp
}

// createOrg makes a provider-managed organisation and returns its id.
func (e *env) createOrg(name string) string {
	e.t.Helper()
	o := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs", token: adminToken,
		body: map[string]any{"name": name, "region": "us-west-2"}})
	return o["id"].(string)
}

// token makes an organisation token with role and returns its secret.
func (e *env) token(org, role string) string {
	e.t.Helper()
	tok := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/tokens", token: adminToken,
		body: map[string]any{"name": role + " token", "role": role}})
	return tok["token"].(string)
}

// count runs a counting query against the server's database.
func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// exec runs a statement against the server's database.
func (e *env) exec(query string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(context.Background(), query, args...); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
}

// wantCount fails the test unless the counting query finds want rows; what names them.
func (e *env) wantCount(want int, what, query string, args ...any) {
	e.t.Helper()
	if n := e.count(query, args...); n != want {
		e.t.Fatalf("%d %s, want %d", n, what, want)
	}
}

// eventually polls cond until it holds or the deadline passes; it waits on behaviour, it does not
// assert on time.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
