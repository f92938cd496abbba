package openapitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/testing/openapitest"
	"github.com/cmekd/cmekd/openapi"
)

// recorder stands in for the test Check reports to, keeping what it reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

const (
	orgJSON = `{"id":"org_5k2m9x0q7w3r8t1v","name":"Acme","region":"us-west-2","regions":["us-west-2"],"encryption":{"mode":"customer_managed","provider":"aws",` +
		`"key_arn":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","status":"healthy"},` +
		`"created_at":"2025-01-31T12:00:00Z"}`
	keyStatusJSON = `{"regions":[{"region":"us-west-2","purpose":"data","key_arn":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",` +
		`"status":"unavailable","last_probe_at":"2025-01-31T12:00:00Z","last_ok_at":null,"unavailable_since":"2025-01-31T12:00:00Z",` +
		`"last_error":{"code":"access_denied","action":"kms:Decrypt","message":"denied"},"next_probe_at":null}]}`
)

func errorJSON(code string) string {
	return `{"error":{"code":"` + code + `","message":"m","details":{}},"request_id":"req_1"}`
}

func TestCheck(t *testing.T) {
	t.Parallel()
	v := openapitest.New(t)
	idHeader := map[string]string{"X-Request-Id": "req_1", "Content-Type": "application/json"}
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range idHeader {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	for _, tc := range []struct {
		name         string
		method, url  string
		reqHeader    map[string]string
		reqBody      string
		status       int
		respHeader   map[string]string
		respBody     string
		wantErrorHas []string // empty: Check must report nothing
	}{
		{
			name: "valid organisation", method: "GET", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v",
			status: 200, respHeader: idHeader, respBody: orgJSON,
		},
		{
			name: "body missing a required field", method: "GET", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v",
			status: 200, respHeader: idHeader, respBody: strings.Replace(orgJSON, `"name":"Acme",`, "", 1),
			wantErrorHas: []string{"GET /v1/orgs/org_5k2m9x0q7w3r8t1v → 200", "response does not match", "name"},
		},
		{
			name: "body with an undocumented field", method: "GET", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v",
			status: 200, respHeader: idHeader, respBody: strings.Replace(orgJSON, `"name"`, `"secret":"x","name"`, 1),
			wantErrorHas: []string{"response does not match", "secret"},
		},
		{
			name: "no X-Request-Id", method: "GET", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v",
			status: 200, respHeader: map[string]string{"Content-Type": "application/json"}, respBody: orgJSON,
			wantErrorHas: []string{"X-Request-Id"},
		},
		{
			name: "nullable times and probe error", method: "GET", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v/key-status",
			status: 200, respHeader: idHeader, respBody: keyStatusJSON,
		},
		{
			name: "time that is not RFC 3339", method: "GET", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v",
			status: 200, respHeader: idHeader, respBody: strings.Replace(orgJSON, "2025-01-31T12:00:00Z", "yesterday", 1),
			wantErrorHas: []string{"created_at"},
		},
		{
			name: "undocumented status", method: "GET", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v",
			status: 418, respHeader: idHeader, respBody: errorJSON("internal_error"),
			wantErrorHas: []string{"→ 418", "status is not supported"},
		},
		{
			name: "error code not in ErrorCode", method: "GET", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v",
			status: 404, respHeader: idHeader, respBody: errorJSON("no_such_thing"),
			wantErrorHas: []string{"→ 404", "response does not match"},
		},
		{
			name: "unknown route", method: "GET", url: "/v1/nothing",
			status: 404, respHeader: idHeader, respBody: errorJSON("not_found"),
			wantErrorHas: []string{"GET /v1/nothing → 404", "no such operation"},
		},
		{
			name: "405 with the error body", method: "PUT", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v",
			status: 405, respHeader: idHeader, respBody: errorJSON("method_not_allowed"),
		},
		{
			name: "405 with another body", method: "PUT", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v",
			status: 405, respHeader: idHeader, respBody: `{"message":"no"}`,
			wantErrorHas: []string{"PUT /v1/orgs/org_5k2m9x0q7w3r8t1v → 405", "response does not match the 405 of"},
		},
		{
			name: "request with an unknown field, accepted", method: "POST", url: "http://127.0.0.1:8080/v1/orgs",
			reqHeader: map[string]string{"Content-Type": "application/json"}, reqBody: `{"name":"Acme","region":"us-west-2","color":"red"}`,
			status: 201, respHeader: idHeader, respBody: orgJSON,
			wantErrorHas: []string{"POST /v1/orgs → 201", "request does not match", "color"},
		},
		{
			name: "request with an unknown field, refused", method: "POST", url: "http://127.0.0.1:8080/v1/orgs",
			reqHeader: map[string]string{"Content-Type": "application/json"}, reqBody: `{"name":"Acme","region":"us-west-2","color":"red"}`,
			status: 400, respHeader: idHeader, respBody: errorJSON("unknown_field"),
		},
		{
			name: "valid create with idempotency key", method: "POST", url: "http://127.0.0.1:8080/v1/orgs",
			reqHeader: map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k1"},
			reqBody:   `{"name":"Acme","region":"us-west-2","encryption":{"mode":"customer_managed","key_arn":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}`,
			status:    201, respHeader: idHeader, respBody: orgJSON,
		},
		{
			name: "key link change, even to null, is a valid request refused with 409", method: "PATCH", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v",
			reqHeader: map[string]string{"Content-Type": "application/json"}, reqBody: `{"encryption":null}`,
			status: 409, respHeader: idHeader, respBody: errorJSON("key_link_immutable"),
		},
		{
			name: "401 without WWW-Authenticate", method: "GET", url: "/v1/orgs",
			status: 401, respHeader: idHeader, respBody: errorJSON("unauthorized"),
			wantErrorHas: []string{"WWW-Authenticate"},
		},
		{
			name: "401 with WWW-Authenticate", method: "GET", url: "/v1/orgs",
			status: 401, respHeader: with(map[string]string{"WWW-Authenticate": `Bearer realm="cmekd"`}), respBody: errorJSON("unauthorized"),
		},
		{
			name: "503 without Retry-After", method: "GET", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v/collections/col_0d7n3b6f1s8h2j4k/documents",
			status: 503, respHeader: idHeader, respBody: errorJSON("kms_unreachable"),
			wantErrorHas: []string{"Retry-After"},
		},
		{
			name: "key policy as Terraform", method: "GET",
			url:    "/v1/key-policy?key_arn=arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab&format=terraform&additional_principal=a&additional_principal=b",
			status: 200, respHeader: map[string]string{"X-Request-Id": "r", "Content-Type": "text/plain; charset=utf-8"},
			respBody: "resource \"aws_kms_key_policy\" \"cmekd\" {}\n",
		},
		{
			name: "key policy statement with a single principal", method: "GET",
			url:    "/v1/key-policy?key_arn=arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			status: 200, respHeader: idHeader,
			respBody: `{"Sid":"cmekdAllowUseOfTheKey","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":["kms:Decrypt"],"Resource":"*"}`,
		},
		{
			name: "bad query answered 422", method: "GET", url: "/v1/orgs?limit=0",
			status: 422, respHeader: idHeader, respBody: errorJSON("invalid_request"),
		},
		{
			name: "bad query accepted", method: "GET", url: "/v1/orgs?limit=0",
			status: 200, respHeader: idHeader, respBody: `{"orgs":[],"next_cursor":""}`,
			wantErrorHas: []string{"request does not match", "limit"},
		},
		{
			name: "delete answers 204", method: "DELETE", url: "/v1/orgs/org_5k2m9x0q7w3r8t1v/tokens/tok_7b2d5f8h0k3n6q9s",
			status: 204, respHeader: map[string]string{"X-Request-Id": "r"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.reqBody))
			for k, v := range tc.reqHeader {
				req.Header.Set(k, v)
			}
			// Check must not depend on the request's body: a client has consumed it by now.
			_, _ = io.Copy(io.Discard, req.Body)

			rec := httptest.NewRecorder()
			for k, v := range tc.respHeader {
				rec.Header().Set(k, v)
			}
			rec.WriteHeader(tc.status)
			_, _ = rec.WriteString(tc.respBody)

			r := &recorder{TB: t}
			v.Check(r, req, []byte(tc.reqBody), rec.Result(), rec.Body.Bytes())

			if len(tc.wantErrorHas) == 0 {
				if len(r.errs) > 0 {
					t.Errorf("Check reported %q, want nothing", r.errs)
				}
				return
			}
			all := strings.Join(r.errs, "\n")
			for _, want := range tc.wantErrorHas {
				if !strings.Contains(all, want) {
					t.Errorf("Check reported %q, want a report containing %q", r.errs, want)
				}
			}
		})
	}
}

// TestCheck_RealHTTP checks exchanges of a real HTTP server, read back by a real client.
func TestCheck_RealHTTP(t *testing.T) {
	t.Parallel()
	v := openapitest.New(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req_1")
		switch r.URL.Path {
		case "/openapi.yaml":
			w.Header().Set("Content-Type", "application/yaml")
			_, _ = w.Write(openapi.Spec)
		case "/metrics":
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8; escaping=underscores")
			_, _ = io.WriteString(w, "# TYPE up gauge\nup 1\n")
		case "/healthz":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"dead"}`)
		}
	}))
	t.Cleanup(srv.Close)

	for path, wantErr := range map[string]bool{"/openapi.yaml": false, "/metrics": false, "/healthz": true} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := &recorder{TB: t}
		v.Check(r, resp.Request, nil, resp, body)
		if gotErr := len(r.errs) > 0; gotErr != wantErr {
			t.Errorf("GET %s: Check reported %q, want an error: %v", path, r.errs, wantErr)
		}
	}
}

func TestHasOperation(t *testing.T) {
	t.Parallel()
	v := openapitest.New(t)
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/v1/orgs/{org}", true},
		{"patch", "/v1/orgs/{org}", true},
		{"PUT", "/v1/orgs/{org}", false},
		{"POST", "/v1/orgs/{org}/collections/{col}/resume", true},
		{"GET", "/v1/orgs/org_5k2m9x0q7w3r8t1v", false},
		{"GET", "/v1/nothing", false},
	} {
		if got := v.HasOperation(tc.method, tc.path); got != tc.want {
			t.Errorf("HasOperation(%q, %q) = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	ops := openapitest.New(t).Operations()
	if !slices.IsSorted(ops) {
		t.Errorf("Operations() is not sorted: %q", ops)
	}
	for _, want := range []string{"GET /healthz", "POST /v1/orgs", "DELETE /v1/orgs/{org}/tokens/{tok}"} {
		if !slices.Contains(ops, want) {
			t.Errorf("Operations() lacks %q", want)
		}
	}
}

// BenchmarkCheck measures what validation adds to each exchange of an end-to-end test.
func BenchmarkCheck(b *testing.B) {
	v := openapitest.New(b)
	reqBody := []byte(`{"name":"Acme","region":"us-west-2"}`)
	req := httptest.NewRequest("POST", "/v1/orgs", nil)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json")
	rec.Header().Set("X-Request-Id", "req_1")
	rec.WriteHeader(http.StatusCreated)
	_, _ = rec.WriteString(orgJSON)
	resp, respBody := rec.Result(), rec.Body.Bytes()
	for b.Loop() {
		v.Check(b, req, reqBody, resp, respBody)
	}
}
