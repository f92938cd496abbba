package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/cmekd/cmekd/client"
)

// flaky answers the first fails requests with status (Retry-After: 0), then 200 or 201, recording
// what each attempt carried.
type flaky struct {
	mu     sync.Mutex
	status int
	fails  int
	keys   []string
	bodies []string
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
	f.bodies = append(f.bodies, string(b))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req_test")
	if len(f.keys) <= f.fails {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, `{"error":{"code":"unavailable","message":"try later","details":{}},"request_id":"req_test"}`)
		return
	}
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"org_1","name":"Acme","region":"us-east-1","encryption":{"mode":"provider_managed","status":"healthy"},"created_at":"2026-01-01T00:00:00Z"}`)
		return
	}
	_, _ = io.WriteString(w, `{"orgs":[],"next_cursor":""}`)
}

func start(t *testing.T, f *flaky) *client.ClientWithResponses {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, "tok", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNew_RetriesACreateWithOneIdempotencyKeyAndTheSameBody(t *testing.T) {
	t.Parallel()
	f := &flaky{status: http.StatusServiceUnavailable, fails: 2}
	c := start(t, f)
	resp, err := c.CreateOrgWithResponse(context.Background(), nil, client.CreateOrgJSONRequestBody{Name: "Acme", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON201 == nil || resp.JSON201.Id != "org_1" {
		t.Fatalf("status %d: %s", resp.StatusCode(), resp.Body)
	}
	if len(f.keys) != 3 || f.keys[0] == "" || f.keys[0] != f.keys[1] || f.keys[1] != f.keys[2] {
		t.Errorf("Idempotency-Keys of the attempts: %q, want one key three times", f.keys)
	}
	if f.bodies[0] == "" || f.bodies[0] != f.bodies[2] {
		t.Errorf("bodies of the attempts differ: %q", f.bodies)
	}
}

func TestNew_RetriesRateLimitedRequests(t *testing.T) {
	t.Parallel()
	f := &flaky{status: http.StatusTooManyRequests, fails: 1}
	resp, err := start(t, f).ListOrgsWithResponse(context.Background(), nil)
	if err != nil || resp.JSON200 == nil {
		t.Fatalf("err %v, status %d", err, resp.StatusCode())
	}
	if len(f.keys) != 2 {
		t.Errorf("%d attempts, want 2", len(f.keys))
	}
}

func TestNew_DoesNotRepeatAnUnsafeWriteAfter503(t *testing.T) {
	t.Parallel()
	f := &flaky{status: http.StatusServiceUnavailable, fails: 5}
	resp, err := start(t, f).CreateCollectionWithResponse(context.Background(), "org_1", client.CreateCollectionJSONRequestBody{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.keys) != 1 {
		t.Errorf("%d attempts of a collection create, want 1", len(f.keys))
	}
	var apiErr *client.APIError
	if err := client.CheckResponse(resp.HTTPResponse, resp.Body); !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.Code() != "unavailable" {
		t.Errorf("CheckResponse = %v, want the 503 unavailable answer", err)
	}
}

func TestNew_GivesUpAfterMaxRetries(t *testing.T) {
	t.Parallel()
	f := &flaky{status: http.StatusServiceUnavailable, fails: 100}
	resp, err := start(t, f).ListOrgsWithResponse(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 503 || len(f.keys) != 4 {
		t.Errorf("status %d after %d attempts, want 503 after 4", resp.StatusCode(), len(f.keys))
	}
}
