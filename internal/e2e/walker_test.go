package e2e_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cmekd/cmekd/internal/keyevents"
	"github.com/cmekd/cmekd/openapi"
)

// TestOpenAPI_EveryAnswerOfHostileInputIsDocumented walks every operation of openapi/openapi.yaml
// and sends it a fixed battery of hostile requests: every method its path does not serve, malformed,
// missing and foreign ids in each path parameter, no token, a wrong one, another organisation's and
// a workspace's, bodies that are empty, not JSON, duplicate-keyed, wrongly typed, huge-numbered,
// deeply nested, over the route's limit or of the wrong content type, and query parameters out of
// range. Every answer must be a status the operation lists (405 for a method its path does not
// serve), never a 500, with a body and headers that match the document: e.do checks each exchange.
// The junk it sends is drawn from a seeded generator, so every run sends the same requests.
func TestOpenAPI_EveryAnswerOfHostileInputIsDocumented(t *testing.T) {
	t.Parallel()
	started := time.Now()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Spec)
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t)
	w := newWalkFixture(e)

	paths := doc.Paths.Map()
	templates := make([]string, 0, len(paths))
	for p := range paths {
		templates = append(templates, p)
	}
	sort.Strings(templates)
	rng := rand.New(rand.NewPCG(20, 5))
	sent := 0
	for _, tmpl := range templates {
		item := paths[tmpl]
		ops := item.Operations()
		t.Run(tmpl, func(t *testing.T) {
			e.t = t
			defer func() { e.t = t }()
			// Every method the path does not serve answers 405, whoever asks, on real objects.
			for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
				if ops[m] != nil {
					continue
				}
				status := w.send(req{method: m, path: w.fill(tmpl, nil), token: adminToken})
				sent++
				if status != http.StatusMethodNotAllowed {
					t.Errorf("%s %s: status %d, want 405", m, tmpl, status)
				}
			}
			methods := make([]string, 0, len(ops))
			for m := range ops {
				methods = append(methods, m)
			}
			sort.Strings(methods)
			for _, m := range methods {
				op := ops[m]
				seen := map[int]int{}
				for _, r := range w.battery(rng, tmpl, m, item, op) {
					seen[w.send(r)]++
					sent++
				}
				t.Logf("%s %s: answers %v", m, tmpl, seen)
			}
		})
	}
	e.t = t
	t.Logf("%d hostile requests over %d paths in %v", sent, len(templates), time.Since(started).Round(time.Millisecond))
}

// walkFixture holds real objects of two organisations, so that paths can name real, foreign and
// missing objects.
type walkFixture struct {
	e *env
	// real are the path parameters of organisation A's objects; foreign are organisation B's.
	real, foreign map[string]string
	owner         string // an owner token of A
	otherOwner    string // an owner token of B
	workspace     string // a workspace token of A
}

func newWalkFixture(e *env) *walkFixture {
	e.t.Helper()
	w := &walkFixture{e: e}
	objects := func(name string) (map[string]string, string) {
		org := e.createOrg(name)
		owner, tokID := e.tokenWithID(org, "owner")
		col := e.collection(org, "events", true)["id"].(string)
		doc := e.ingest(org, col, map[string]any{"a": 1})[0]
		bak := "bak_0000000000000000"
		if r := e.do(req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + col + "/backups", token: adminToken}); r.Status/100 == 2 {
			bak = r.JSON(e.t)["id"].(string)
		}
		e.must(201, req{method: "POST", path: "/v1/orgs/" + org + "/workspaces", token: adminToken, body: map[string]any{"name": "jobs"}})
		e.must(201, req{method: "POST", path: "/v1/orgs/" + org + "/secret-scopes", token: owner, body: map[string]any{"name": "prod"}})
		e.must(200, req{method: "PUT", path: "/v1/orgs/" + org + "/secret-scopes/prod/roles", token: owner,
			body: map[string]any{"principal": tokID, "role": "manager"}})
		e.must(201, req{method: "PUT", path: "/v1/orgs/" + org + "/secret-scopes/prod/secrets/db", token: owner, body: map[string]any{"value": "v"}})
		wh := e.must(201, req{method: "POST", path: "/v1/orgs/" + org + "/webhooks", token: owner,
			body: map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"*"}}})["id"].(string)
		return map[string]string{"org": org, "tok": tokID, "col": col, "doc": doc, "bak": bak, "workspace": "jobs",
			"scope": "prod", "key": "db", "principal": tokID, "wh": wh, "region": home}, owner
	}
	w.real, w.owner = objects("Acme")
	w.foreign, w.otherOwner = objects("Other")
	ws := e.must(201, req{method: "POST", path: "/v1/orgs/" + w.real["org"] + "/tokens", token: adminToken,
		body: map[string]any{"name": "jobs", "role": "workspace", "workspace": "jobs"}})
	w.workspace = ws["token"].(string)
	return w
}

// noRedirects is a client that shows redirects as they are answered, so GET / is checked as itself.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send sends one hostile request and holds its answer to the document: never a 500, a status the
// operation lists, headers and body as it describes them, a request id.
func (w *walkFixture) send(r req) int {
	e := w.e
	e.t.Helper()
	hr, resp, body := e.exchange(noRedirects, r, r.raw)
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
		e.t.Errorf("%s %s answered %d: %s", r.method, r.path, resp.StatusCode, truncated(body))
	}
	e.api.CheckHostile(e.t, hr, r.raw, resp, body)
	return resp.StatusCode
}

func truncated(b []byte) []byte {
	if len(b) > 500 {
		return b[:500]
	}
	return b
}

// fill puts A's real objects into a path template, but for the parameters in with.
func (w *walkFixture) fill(tmpl string, with map[string]string) string {
	var b strings.Builder
	for rest := tmpl; ; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			b.WriteString(rest)
			return b.String()
		}
		end := strings.IndexByte(rest, '}')
		name := rest[open+1 : end]
		v, ok := with[name]
		if !ok {
			v = w.real[name]
			if v == "" {
				w.e.t.Fatalf("%s: no object for {%s}", tmpl, name)
			}
		}
		b.WriteString(rest[:open])
		b.WriteString(v)
		rest = rest[end+1:]
	}
}

// badIDs are ids that name nothing: malformed, of the wrong type, missing, hostile to a query.
func badIDs(rng *rand.Rand, real string) []string {
	prefix, _, _ := strings.Cut(real, "_")
	junk := make([]byte, 12)
	for i := range junk {
		junk[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
	}
	ids := []string{
		"x",
		prefix + "_",
		prefix + "_" + string(junk),
		"col_" + string(junk),
		"%00",
		"%ff%fe",
		"%E2%80%A8",
		"..%2F..%2Fv1%2Forgs",
		"a%20b",
		"'%20OR%201=1--",
		strings.Repeat("z", 4096),
		real + "%00",
	}
	if strings.Contains(real, "_") { // ids are case-sensitive; names may not be, and must survive
		ids = append(ids, strings.ToUpper(real))
	}
	return ids
}

// battery is the hostile requests for one operation.
func (w *walkFixture) battery(rng *rand.Rand, tmpl, method string, item *openapi3.PathItem, op *openapi3.Operation) []req {
	var out []req
	path := w.fill(tmpl, nil)
	// Tokens: none, a wrong one, another organisation's, a workspace's; a receiver of key events is
	// told a wrong events api key too.
	for _, tok := range []string{"", "not-a-token", "tok_" + strings.Repeat("0", 40), w.otherOwner, w.workspace} {
		out = append(out, req{method: method, path: path, token: tok})
	}
	out = append(out, req{method: method, path: path, header: map[string]string{keyevents.APIKeyName: "wrong"}},
		req{method: method, path: path, header: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}},
		req{method: method, path: path, header: map[string]string{"Authorization": "Bearer"}})

	// Path parameters: malformed, missing and foreign ids, one parameter at a time, as A's owner.
	params := append(openapi3.Parameters{}, item.Parameters...)
	params = append(params, op.Parameters...)
	for _, p := range params {
		if p.Value.In != "path" {
			continue
		}
		name := p.Value.Name
		ids := badIDs(rng, w.real[name])
		if f := w.foreign[name]; f != w.real[name] {
			ids = append(ids, f)
		}
		for _, id := range ids {
			out = append(out, req{method: method, path: w.fill(tmpl, map[string]string{name: id}), token: w.owner})
		}
	}

	// Query parameters out of range, one at a time.
	for _, p := range params {
		if p.Value.In != "query" {
			continue
		}
		vals := []string{"", "%00", "%ff", strings.Repeat("q", 5000), "-1", "0", "501", "1e3", "99999999999999999999", "abc", "1.5", "null"}
		for _, v := range vals {
			out = append(out, req{method: method, path: path + "?" + p.Value.Name + "=" + v, token: w.owner})
		}
		out = append(out, req{method: method, path: path + "?" + p.Value.Name + "=1&" + p.Value.Name + "=2", token: w.owner})
	}

	if op.RequestBody == nil {
		return out
	}
	// Bodies, as A's owner on A's real objects.
	limit := 1 << 20
	switch {
	case strings.HasSuffix(tmpl, "/documents"):
		limit = 8 << 20
	case strings.HasPrefix(tmpl, "/v1/key-events/aws/"):
		limit = keyevents.MaxEvent
	}
	// Bodies go as A's owner, or as the admin where the path names no organisation (creating one is the admin's).
	bodyToken := w.owner
	if !strings.Contains(tmpl, "{org}") {
		bodyToken = adminToken
	}
	noise := make([]byte, 64)
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	bodies := [][]byte{
		{},
		[]byte("not json"),
		[]byte("{"),
		[]byte(`{"a":1}{"b":2}`),
		[]byte(`[]`),
		[]byte(`null`),
		[]byte(`"string"`),
		[]byte(`12345678901234567890123456789012345678901234567890`),
		[]byte(`{"name":"x","name":"y"}`),
		[]byte(`{"a":{"b":1,"\u0062":2}}`),
		[]byte(`{"name":1e999999}`),
		[]byte(`{"limit":-1e400}`),
		[]byte("\xef\xbb\xbf{}"),
		[]byte("{\"name\":\"\xff\xfe\"}"),
		[]byte(`{"name":"\ud800"}`),
		noise,
		append(append(bytes.Repeat([]byte(`[`), 100000), '1'), bytes.Repeat([]byte(`]`), 100000)...),
		append(bytes.Repeat([]byte(`{"a":`), 20000), append([]byte(`1`), bytes.Repeat([]byte(`}`), 20000)...)...),
		oversize(limit + 1),
	}
	for _, b := range bodies {
		out = append(out, req{method: method, path: path, token: bodyToken, raw: b})
	}
	// Wrong types, one property at a time, and huge numbers in the numeric ones.
	if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil && mt.Schema.Value != nil {
		props := mt.Schema.Value.Properties
		names := make([]string, 0, len(props))
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			for _, v := range wrongValues(props[n].Value) {
				out = append(out, req{method: method, path: path, token: bodyToken, raw: []byte(fmt.Sprintf(`{%q:%s}`, n, v))})
			}
		}
	}
	// Valid JSON sent as something else.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", "application/json; charset=latin1", ""} {
		r := req{method: method, path: path, token: bodyToken, raw: []byte(`{}`), contentType: ct}
		if ct == "" {
			r.header = map[string]string{"Content-Type": ""}
		}
		out = append(out, r)
	}
	return out
}

// wrongValues are JSON values of the wrong type for schema s, and numbers out of any range.
func wrongValues(s *openapi3.Schema) []string {
	vals := []string{`null`, `{}`, `[]`, `true`, `1e400`, `-99999999999999999999999`}
	if s == nil || s.Type == nil || !s.Type.Is("string") {
		vals = append(vals, `"x"`, `"`+strings.Repeat("y", 10000)+`"`)
	}
	if s != nil && s.Type != nil && (s.Type.Is("string") || s.Type.Is("array") || s.Type.Is("object")) {
		vals = append(vals, `12`)
	}
	if s != nil && s.Type != nil && s.Type.Is("array") {
		vals = append(vals, `[null]`, `[1,[2]]`, `[`+strings.Repeat(`"a",`, 10000)+`"a"]`)
	}
	return slices.Compact(vals)
}

// oversize is a well-formed JSON object of n bytes.
func oversize(n int) []byte {
	const head, tail = `{"name":"`, `"}`
	return []byte(head + strings.Repeat("a", n-len(head)-len(tail)) + tail)
}
