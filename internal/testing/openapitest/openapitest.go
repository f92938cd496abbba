// Package openapitest lets tests check real HTTP traffic against openapi/openapi.yaml, so the
// document and the server cannot drift apart unnoticed.
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/cmekd/cmekd/openapi"
)

// Validator checks requests and responses against openapi/openapi.yaml.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

// load parses and validates the document once per test binary: it never changes at run time, and
// kin-openapi only reads it while validating, so parallel tests can share it.
var load = sync.OnceValues(func() (*Validator, error) {
	// The browser's pages are text like any other: their bodies are strings to the document.
	for _, ct := range []string{"text/html", "text/javascript"} {
		if openapi3filter.RegisteredBodyDecoder(ct) == nil {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
		}
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Spec)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.yaml: %w", err)
	}
	return &Validator{doc: doc, router: router}, nil
})

// New returns the Validator of openapi/openapi.yaml, failing t when the document does not load or
// validate.
func New(t testing.TB) *Validator {
	t.Helper()
	v, err := load()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// terse keeps whole schemas out of failure messages: the path and reason say what is wrong, and the
// body is printed beside them.
var terse = []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()}

// badInput lists the statuses that answer input the test sent wrong on purpose: the request is then
// not held to the document, but the response still is. 404 is among them because tests probe
// unknown and malformed ids.
var badInput = []int{
	http.StatusBadRequest,
	http.StatusNotFound,
	http.StatusRequestEntityTooLarge,
	http.StatusUnsupportedMediaType,
	http.StatusUnprocessableEntity,
}

// Check reports through t.Errorf every way the exchange departs from the document: an unknown
// route, a request that does not match its operation (unless the status says the input was bad on
// purpose), an undocumented status, or a response whose headers or body do not match. reqBody and
// respBody are the bodies as sent and received, since req and resp have usually consumed theirs.
// Security is not checked: tests of authentication assert on it themselves.
func (v *Validator) Check(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	v.check(t, req, reqBody, resp, respBody, func(status int) bool { return !slices.Contains(badInput, status) })
}

// CheckHostile is Check for requests a test sends wrong on purpose, whatever their answer: the
// request is held to the document only when the server took it (a 2xx or 3xx answer), since hostile
// input the server accepts must be input the document allows; the answer always is.
func (v *Validator) CheckHostile(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	v.check(t, req, reqBody, resp, respBody, func(status int) bool { return status < 400 })
}

func (v *Validator) check(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte, holdRequest func(int) bool) {
	t.Helper()
	ctx := context.Background()
	exchange := fmt.Sprintf("%s %s → %d", req.Method, req.URL.Path, resp.StatusCode)

	r := req.Clone(ctx)
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	r.ContentLength = int64(len(reqBody))

	route, params, err := v.router.FindRoute(r)
	if errors.Is(err, routers.ErrMethodNotAllowed) && resp.StatusCode == http.StatusMethodNotAllowed {
		// No operation serves the method, so the answer is held to the 405 every operation of the
		// path must list.
		if err := v.checkMethodNotAllowed(ctx, r, resp, respBody); err != nil {
			t.Errorf("%s: %v", exchange, err)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: openapi.yaml has no such operation: %v", exchange, err)
		return
	}

	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: filterOptions()}
	if holdRequest(resp.StatusCode) {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s: request does not match openapi.yaml: %v", exchange, err)
		}
	}

	if err := validateResponse(ctx, in, resp, respBody); err != nil {
		t.Errorf("%s: response does not match openapi.yaml: %v\nbody: %s", exchange, err, truncate(respBody))
	}
}

// filterOptions are the options every exchange is validated with: no authentication check, no
// defaults set, every error at once, tersely.
func filterOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus:   true,
		SkipSettingDefaults:     true,
		MultiError:              true,
		SchemaValidationOptions: terse,
	}
}

// validateResponse holds resp, with body, to what the operation of in lists.
func validateResponse(ctx context.Context, in *openapi3filter.RequestValidationInput, resp *http.Response, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: in.Options}
	out.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(ctx, out)
}

// methods are the methods a path's operations may have.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// checkMethodNotAllowed holds a 405 to the path of r: every operation the path has must list 405,
// and the answer must match what they list.
func (v *Validator) checkMethodNotAllowed(ctx context.Context, r *http.Request, resp *http.Response, body []byte) error {
	found := false
	for _, m := range methods {
		other := r.Clone(ctx)
		other.Method = m
		route, params, err := v.router.FindRoute(other)
		if err != nil {
			continue
		}
		found = true
		if route.Operation.Responses.Status(http.StatusMethodNotAllowed) == nil {
			return fmt.Errorf("openapi.yaml does not list 405 for %s %s", m, route.Path)
		}
		in := &openapi3filter.RequestValidationInput{Request: other, PathParams: params, Route: route, Options: filterOptions()}
		if err := validateResponse(ctx, in, resp, body); err != nil {
			return fmt.Errorf("response does not match the 405 of %s %s: %v\nbody: %s", m, route.Path, err, truncate(body))
		}
	}
	if !found {
		return errors.New("openapi.yaml has no operation on this path")
	}
	return nil
}

// HasOperation reports whether the document describes method on path, path being in the document's
// template form, e.g. "/v1/orgs/{org}".
func (v *Validator) HasOperation(method, path string) bool {
	item := v.doc.Paths.Value(path)
	return item != nil && item.GetOperation(strings.ToUpper(method)) != nil
}

// Operations lists every operation of the document as "METHOD /path", sorted.
func (v *Validator) Operations() []string {
	var ops []string
	for path, item := range v.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

// truncate keeps failure messages readable when a body is large.
func truncate(b []byte) string {
	const max = 2000
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
