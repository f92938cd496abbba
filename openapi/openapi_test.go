package openapi_test

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/openapi"
)

// access is who may call an operation, which decides its 401 and 403 answers.
type access int

const (
	public   access = iota // operations routes: no token
	anyRole                // any token of the organisation, or the admin (workspace tokens: 403)
	operator               // operator, owner or admin
	owner                  // owner or admin
	admin                  // the admin token only
	// eventKey is the key-events delivery route: no token, the api key of the organisation's
	// EventBridge connection; a wrong key and an unknown organisation both answer 401.
	eventKey
)

// routes is the API, route by route; the document must describe exactly these.
var routes = map[string]access{
	"POST /v1/key-checks":                                  anyRole,
	"GET /v1/key-policy":                                   anyRole,
	"POST /v1/orgs":                                        admin,
	"GET /v1/orgs":                                         anyRole,
	"GET /v1/orgs/{org}":                                   anyRole,
	"PATCH /v1/orgs/{org}":                                 owner,
	"DELETE /v1/orgs/{org}":                                admin,
	"POST /v1/orgs/{org}/tokens":                           owner,
	"GET /v1/orgs/{org}/tokens":                            owner,
	"DELETE /v1/orgs/{org}/tokens/{tok}":                   owner,
	"GET /v1/orgs/{org}/key-status":                        anyRole,
	"POST /v1/orgs/{org}/key-status/probe":                 operator,
	"POST /v1/orgs/{org}/key-events":                       owner,
	"GET /v1/orgs/{org}/key-events":                        anyRole,
	"DELETE /v1/orgs/{org}/key-events":                     owner,
	"POST /v1/orgs/{org}/collections":                      operator,
	"GET /v1/orgs/{org}/collections":                       anyRole,
	"GET /v1/orgs/{org}/collections/{col}":                 anyRole,
	"DELETE /v1/orgs/{org}/collections/{col}":              operator,
	"POST /v1/orgs/{org}/collections/{col}/resume":         operator,
	"POST /v1/orgs/{org}/collections/{col}/documents":      operator,
	"GET /v1/orgs/{org}/collections/{col}/documents":       anyRole,
	"GET /v1/orgs/{org}/collections/{col}/documents/{doc}": anyRole,
	"GET /v1/orgs/{org}/events":                            anyRole,
	"GET /v1/events":                                       admin,
	// Replica regions and backups.
	"POST /v1/orgs/{org}/regions":                   operator,
	"GET /v1/orgs/{org}/regions":                    anyRole,
	"GET /v1/orgs/{org}/regions/{region}":           anyRole,
	"POST /v1/orgs/{org}/collections/{col}/backups": operator,
	"GET /v1/orgs/{org}/backups":                    anyRole,
	"GET /v1/orgs/{org}/backups/{bak}":              anyRole,
	"DELETE /v1/orgs/{org}/backups/{bak}":           operator,
	"POST /v1/orgs/{org}/backups/{bak}/restore":     operator,
	// Grants.
	"GET /v1/orgs/{org}/grants":        anyRole,
	"POST /v1/orgs/{org}/grants/renew": operator,
	// Secret scopes and workspaces. Scope routes are anyRole here: the role they need is one on the scope, not the token's.
	"POST /v1/orgs/{org}/workspaces":                                operator,
	"GET /v1/orgs/{org}/workspaces":                                 operator,
	"DELETE /v1/orgs/{org}/workspaces/{workspace}":                  operator,
	"POST /v1/orgs/{org}/secret-scopes":                             anyRole,
	"GET /v1/orgs/{org}/secret-scopes":                              anyRole,
	"GET /v1/orgs/{org}/secret-scopes/{scope}":                      anyRole,
	"DELETE /v1/orgs/{org}/secret-scopes/{scope}":                   anyRole,
	"GET /v1/orgs/{org}/secret-scopes/{scope}/roles":                anyRole,
	"PUT /v1/orgs/{org}/secret-scopes/{scope}/roles":                anyRole,
	"DELETE /v1/orgs/{org}/secret-scopes/{scope}/roles/{principal}": anyRole,
	"GET /v1/orgs/{org}/secret-scopes/{scope}/secrets":              anyRole,
	"PUT /v1/orgs/{org}/secret-scopes/{scope}/secrets/{key}":        anyRole,
	"GET /v1/orgs/{org}/secret-scopes/{scope}/secrets/{key}":        anyRole,
	"DELETE /v1/orgs/{org}/secret-scopes/{scope}/secrets/{key}":     anyRole,
	"POST /v1/orgs/{org}/webhooks":                                  owner,
	"GET /v1/orgs/{org}/webhooks":                                   owner,
	"GET /v1/orgs/{org}/webhooks/{wh}":                              owner,
	"DELETE /v1/orgs/{org}/webhooks/{wh}":                           owner,
	"POST /v1/orgs/{org}/webhooks/{wh}/test":                        owner,
	"GET /v1/orgs/{org}/webhooks/{wh}/deliveries":                   owner,
	"GET /healthz":                  public,
	"GET /readyz":                   public,
	"GET /metrics":                  public,
	"GET /openapi.yaml":             public,
	"GET /":                         public,
	"GET /docs":                     public,
	"GET /docs/redoc.standalone.js": public,
	// Key events: the customer's EventBridge delivers with the api key of its connection, no token.
	"POST /v1/key-events/aws/{org}": eventKey,
}

func load(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Spec)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return doc
}

// operation is one operation of the document with its route.
type operation struct {
	name string // "METHOD /path"
	path string
	item *openapi3.PathItem
	op   *openapi3.Operation
}

func operations(doc *openapi3.T) []operation {
	var ops []operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, operation{name: method + " " + path, path: path, item: item, op: op})
		}
	}
	slices.SortFunc(ops, func(a, b operation) int { return strings.Compare(a.name, b.name) })
	return ops
}

func TestSpec_IsValidOpenAPI303(t *testing.T) {
	t.Parallel()
	doc := load(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	// Validate also checks every example against its schema.
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

func TestSpec_DescribesExactlyTheSpecRoutes(t *testing.T) {
	t.Parallel()
	var got []string
	for _, o := range operations(load(t)) {
		got = append(got, o.name)
	}
	want := slices.Sorted(maps.Keys(routes))
	if !slices.Equal(got, want) {
		t.Errorf("operations differ from the route list\n got: %q\nwant: %q", got, want)
	}
}

func TestSpec_OperationsAreComplete(t *testing.T) {
	t.Parallel()
	ids := map[string]string{}
	for _, o := range operations(load(t)) {
		who, known := routes[o.name]
		if !known {
			continue // reported by TestSpec_DescribesExactlyTheSpecRoutes
		}
		t.Run(o.name, func(t *testing.T) {
			if o.op.OperationID == "" {
				t.Error("no operationId")
			} else if other, dup := ids[o.op.OperationID]; dup {
				t.Errorf("operationId %q also names %s", o.op.OperationID, other)
			}
			ids[o.op.OperationID] = o.name
			if strings.TrimSpace(o.op.Summary) == "" {
				t.Error("no summary")
			}

			has := func(status int) bool { return o.op.Responses.Status(status) != nil }
			success := false
			for code := range o.op.Responses.Map() {
				// A redirect is the whole answer of GET /, which sends browsers to the console.
				if n, err := strconv.Atoi(code); err == nil && n >= 200 && n < 400 {
					success = true
				}
			}
			if !success {
				t.Error("no 2xx or 3xx response")
			}
			if o.op.Responses.Default() != nil {
				t.Error("a default response hides undocumented statuses; list them")
			}

			want := map[int]bool{}
			if who == eventKey {
				// One event body, checked as EventBridge sends it; an organisation it does not know is
				// a 401 like a wrong key, never a 404.
				want[400], want[401], want[413], want[500], want[503] = true, true, true, true, true
				for _, status := range []int{400, 401, 413, 500, 503} {
					if !has(status) {
						t.Errorf("no %d response", status)
					}
				}
				for _, status := range []int{403, 404} {
					if has(status) {
						t.Errorf("documents a %d this operation cannot answer", status)
					}
				}
				return
			}
			if who != public {
				// Every /v1 operation refuses a body that is not JSON, bodiless ones included.
				want[401], want[415], want[500], want[503] = true, true, true, true
			}
			// Every /v1 operation can answer 403: workspace tokens are refused all but one,
			// and that one needs a role on the scope.
			if who != public {
				want[403] = true
			}
			if strings.Contains(o.path, "{") {
				want[404] = true
			}
			if o.op.RequestBody != nil {
				want[400], want[413], want[415], want[422] = true, true, true, true
			}
			if hasParam(o, "limit") {
				want[400], want[422] = true, true // bad cursor, bad limit
			}
			for _, status := range []int{400, 401, 403, 404, 413, 415, 422, 500, 503} {
				if want[status] && !has(status) {
					t.Errorf("no %d response", status)
				}
			}
			// Statuses that cannot happen must not be promised either.
			for _, status := range []int{401, 403, 404, 413, 415} {
				if !want[status] && has(status) {
					t.Errorf("documents a %d this operation cannot answer", status)
				}
			}

			switch {
			case who == public && (o.op.Security == nil || len(*o.op.Security) != 0):
				t.Error("operations routes must declare security: []")
			case who != public && o.op.Security != nil:
				t.Error("/v1 operations must inherit the global bearerAuth requirement")
			}
		})
	}
}

func hasParam(o operation, name string) bool {
	for _, p := range append(slices.Clone(o.item.Parameters), o.op.Parameters...) {
		if p.Value.Name == name {
			return true
		}
	}
	return false
}

func TestSpec_ResponsesCarryHeadersAndTheErrorBody(t *testing.T) {
	t.Parallel()
	for _, o := range operations(load(t)) {
		for code, ref := range o.op.Responses.Map() {
			r := ref.Value
			status, _ := strconv.Atoi(code)
			where := o.name + " " + code
			if h := r.Headers["X-Request-Id"]; h == nil || !h.Value.Required {
				t.Errorf("%s: no required X-Request-Id header", where)
			}
			if status == 401 && (r.Headers["WWW-Authenticate"] == nil || !r.Headers["WWW-Authenticate"].Value.Required) {
				t.Errorf("%s: no required WWW-Authenticate header", where)
			}
			if status == 503 && (r.Headers["Retry-After"] == nil || !r.Headers["Retry-After"].Value.Required) {
				t.Errorf("%s: no required Retry-After header", where)
			}
			if status < 400 {
				continue
			}
			if len(r.Content) != 1 || r.Content["application/json"] == nil ||
				r.Content["application/json"].Schema.Ref != "#/components/schemas/Error" {
				t.Errorf("%s: error responses must be application/json with the Error schema", where)
			}
		}
	}
}

// listedCode matches a code listed in a response description: a line "- `code`: why".
var listedCode = regexp.MustCompile("(?m)^- `([a-z_]+)`:")

func TestSpec_ErrorCodesAreListedPerResponse(t *testing.T) {
	t.Parallel()
	doc := load(t)
	enum := map[string]bool{}
	for _, v := range doc.Components.Schemas["ErrorCode"].Value.Enum {
		enum[v.(string)] = true
	}
	// method_not_allowed answers methods a path does not serve, which no operation can list.
	// malformed_request answers requests that are not HTTP enough to name an operation.
	listed := map[string]bool{"method_not_allowed": true, "malformed_request": true}
	for _, o := range operations(doc) {
		for code, ref := range o.op.Responses.Map() {
			if status, _ := strconv.Atoi(code); status < 400 {
				continue
			}
			matches := listedCode.FindAllStringSubmatch(*ref.Value.Description, -1)
			if len(matches) == 0 {
				t.Errorf("%s %s: the description lists no error code", o.name, code)
			}
			for _, m := range matches {
				if !enum[m[1]] {
					t.Errorf("%s %s: lists %q, which ErrorCode does not have", o.name, code, m[1])
				}
				listed[m[1]] = true
			}
		}
	}
	for code := range enum {
		if !listed[code] {
			t.Errorf("ErrorCode %q is answered by no operation", code)
		}
	}
}

// TestSpec_RefsResolveAndComponentsAreUsed reads the raw YAML, so it judges the document as written
// rather than what the loader made of it.
func TestSpec_RefsResolveAndComponentsAreUsed(t *testing.T) {
	t.Parallel()
	var raw map[string]any
	if err := yaml.Unmarshal(openapi.Spec, &raw); err != nil {
		t.Fatalf("parse: %v", err)
	}
	used := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !resolves(raw, ref) {
					t.Errorf("$ref %q does not resolve", ref)
				}
				used[ref] = true
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(raw)

	components := raw["components"].(map[string]any)
	for _, kind := range []string{"schemas", "responses", "parameters", "headers"} {
		for name := range components[kind].(map[string]any) {
			if ref := "#/components/" + kind + "/" + name; !used[ref] {
				t.Errorf("%s is never referenced", ref)
			}
		}
	}
}

// resolves follows a local JSON pointer such as "#/components/schemas/Error" through doc.
func resolves(doc map[string]any, ref string) bool {
	pointer, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	var node any = doc
	for _, token := range strings.Split(pointer, "/") {
		token = strings.NewReplacer("~1", "/", "~0", "~").Replace(token)
		m, ok := node.(map[string]any)
		if !ok {
			return false
		}
		if node, ok = m[token]; !ok {
			return false
		}
	}
	return true
}

// TestSpec_EnumsAreTheDomains holds the document's ErrorCode and EventType enums to the codes and
// event types domain spells, so a new code or type cannot be added to one and not the other.
func TestSpec_EnumsAreTheDomains(t *testing.T) {
	t.Parallel()
	doc := load(t)
	for schema, want := range map[string][]string{"ErrorCode": domain.ErrorCodes, "EventType": domain.EventTypes} {
		var got []string
		for _, v := range doc.Components.Schemas[schema].Value.Enum {
			got = append(got, v.(string))
		}
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("%s enum differs from domain\n got: %q\nwant: %q", schema, got, want)
		}
	}
}
