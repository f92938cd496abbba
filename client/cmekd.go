// Package client is the Go client of cmekd's API. client.gen.go is generated from
// openapi/openapi.yaml by oapi-codegen (`make generate`); this file is the thin layer around it:
// a bearer token, retries of 429 and 503 answers that honour Retry-After, an Idempotency-Key on
// every create that takes one, and the error answer as a Go error.
package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Options shape the client New returns; the zero value is sensible.
type Options struct {
	// HTTPClient sends the requests; nil means a client with a 60 s timeout.
	HTTPClient *http.Client
	// MaxRetries is how often a 429 or 503 answer is retried; 0 means 3, a negative value none.
	MaxRetries int
	// MaxWait caps one wait between retries, whatever Retry-After says; 0 means 30 s.
	MaxWait time.Duration
	// UserAgent names the caller in the server's logs; "" means "cmekd-go-client".
	UserAgent string
}

// New returns a client of the cmekd at baseURL (e.g. http://127.0.0.1:8080) that authenticates with
// token ("" sends no Authorization header, for the operations routes).
func New(baseURL, token string, opts Options) (*ClientWithResponses, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	switch {
	case opts.MaxRetries == 0:
		opts.MaxRetries = 3
	case opts.MaxRetries < 0:
		opts.MaxRetries = 0
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = 30 * time.Second
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "cmekd-go-client"
	}
	d := &retrier{next: opts.HTTPClient, max: opts.MaxRetries, maxWait: opts.MaxWait}
	return NewClientWithResponses(strings.TrimRight(baseURL, "/"), WithHTTPClient(d),
		WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			if token != "" {
				r.Header.Set("Authorization", "Bearer "+token)
			}
			r.Header.Set("User-Agent", opts.UserAgent)
			return nil
		}))
}

// retrier sends a request again after a 429, or after a 503 when sending it twice cannot do a thing
// twice; the same Idempotency-Key goes with every attempt, so a retried create creates once.
type retrier struct {
	next    HttpRequestDoer
	max     int
	maxWait time.Duration
}

func (d *retrier) Do(req *http.Request) (*http.Response, error) {
	if takesIdempotencyKey(req) && req.Header.Get("Idempotency-Key") == "" {
		req.Header.Set("Idempotency-Key", NewIdempotencyKey())
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		resp, err := d.next.Do(req)
		if err != nil || attempt >= d.max || !d.retryable(req, resp.StatusCode) {
			return resp, err
		}
		wait := min(retryAfter(resp.Header.Get("Retry-After"), attempt), d.maxWait)
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		t := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		case <-t.C:
		}
	}
}

// retryable: a 429 did nothing; a 503 may have been answered after part of the work, so only
// requests that are safe to repeat go again.
func (d *retrier) retryable(req *http.Request, status int) bool {
	switch status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusServiceUnavailable:
		switch req.Method {
		case http.MethodGet, http.MethodHead, http.MethodDelete:
			return true
		}
		// Key checks store nothing; creates carry an Idempotency-Key.
		return req.URL.Path == "/v1/key-checks" || req.Header.Get("Idempotency-Key") != ""
	}
	return false
}

// takesIdempotencyKey names the creates that honour Idempotency-Key.
func takesIdempotencyKey(req *http.Request) bool {
	if req.Method != http.MethodPost {
		return false
	}
	p := req.URL.Path
	return p == "/v1/orgs" || (strings.HasPrefix(p, "/v1/orgs/") && strings.HasSuffix(p, "/documents"))
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); without one it backs off
// exponentially from half a second.
func retryAfter(h string, attempt int) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return (500 * time.Millisecond) << attempt
}

// NewIdempotencyKey returns a fresh random Idempotency-Key.
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "idem_" + hex.EncodeToString(b[:])
}

// APIError is an error answer of cmekd: its status and its body, with its error code and details.
type APIError struct {
	Status int
	Body   Error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (%d %s, request %s)", e.Body.Error.Message, e.Status, e.Body.Error.Code, e.Body.RequestId)
}

// Code is the error's code, e.g. key_verification_failed.
func (e *APIError) Code() ErrorCode { return e.Body.Error.Code }

// CheckResponse returns nil for a 2xx answer and an *APIError for an error answer; an answer that is
// not cmekd's error body (a proxy's page, say) becomes an APIError with code "" and the status text.
// Use it on any generated response: CheckResponse(r.HTTPResponse, r.Body).
func CheckResponse(resp *http.Response, body []byte) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &APIError{Status: resp.StatusCode}
	if err := json.Unmarshal(body, &e.Body); err != nil || e.Body.Error.Message == "" {
		e.Body = Error{Error: ErrorInfo{Message: http.StatusText(resp.StatusCode)},
			RequestId: resp.Header.Get("X-Request-Id")}
	}
	return e
}
