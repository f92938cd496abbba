package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/config"
)

func scopesPath(org string) string { return "/v1/orgs/" + org + "/secret-scopes" }

func scopePath(org, scope string) string { return scopesPath(org) + "/" + scope }

func secretPath(org, scope, key string) string { return scopePath(org, scope) + "/secrets/" + key }

// newScope creates a scope as token, which becomes its manager.
func (e *env) newScope(org, token, name string) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, req{method: "POST", path: scopesPath(org), token: token, body: map[string]any{"name": name}})
}

// grant gives principal role on a scope, as token.
func (e *env) grant(org, token, scope, principal, role string) {
	e.t.Helper()
	e.must(http.StatusOK, req{method: "PUT", path: scopePath(org, scope) + "/roles", token: token,
		body: map[string]any{"principal": principal, "role": role}})
}

// putSecret writes a secret as token and answers the status with the body.
func (e *env) putSecret(org, token, scope, key, value string) response {
	e.t.Helper()
	return e.do(req{method: "PUT", path: secretPath(org, scope, key), token: token, body: map[string]any{"value": value}})
}

// readSecret reads a secret's value as token.
func (e *env) readSecret(org, token, scope, key string) string {
	e.t.Helper()
	return e.must(http.StatusOK, req{method: "GET", path: secretPath(org, scope, key), token: token})["value"].(string)
}

// workspace creates a workspace and a token of it, and returns the token's secret and id.
func (e *env) workspace(org, name string) (secret, id string) {
	e.t.Helper()
	e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/workspaces", token: adminToken, body: map[string]any{"name": name}})
	tok := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/tokens", token: adminToken,
		body: map[string]any{"name": name + " jobs", "role": "workspace", "workspace": name}})
	if tok["workspace"] != name || tok["role"] != "workspace" {
		e.t.Fatalf("workspace token: %v", tok)
	}
	return tok["token"].(string), tok["id"].(string)
}

// tokenWithID makes an organisation token and returns its secret and id.
func (e *env) tokenWithID(org, role string) (secret, id string) {
	e.t.Helper()
	tok := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs/" + org + "/tokens", token: adminToken,
		body: map[string]any{"name": role + " token", "role": role}})
	return tok["token"].(string), tok["id"].(string)
}

// eventsOf lists an organisation's events of one type, newest first.
func (e *env) eventsOf(org, typ string) []map[string]any {
	e.t.Helper()
	out := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/events?limit=500&type=" + typ, token: adminToken})
	var evs []map[string]any
	for _, ev := range out["events"].([]any) {
		evs = append(evs, ev.(map[string]any))
	}
	return evs
}

// wantEvents fails the test unless org's trail holds want events of type typ.
func (e *env) wantEvents(want int, org, typ string) {
	e.t.Helper()
	if n := len(e.eventsOf(org, typ)); n != want {
		e.t.Fatalf("%d %s events, want %d", n, typ, want)
	}
}

// TestSecrets_PermissionTable is the seed's table of scope-level permissions, cell by cell: every
// principal against every action, each on a fresh scope. A cell is the status and, for 403, the code
// (forbidden for a workspace token) or the role details.required names.
func TestSecrets_PermissionTable(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	other := e.createOrg("Initech")
	managerTok := e.token(org, "member")
	writerTok, writerID := e.tokenWithID(org, "member")
	readerTok, readerID := e.tokenWithID(org, "member")
	_, bystanderID := e.tokenWithID(org, "member")
	wsTok, _ := e.workspace(org, "prod")
	devTok, _ := e.workspace(org, "dev") // a workspace that is granted nothing
	revokedTok, revokedID := e.tokenWithID(org, "owner")
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org + "/tokens/" + revokedID, token: adminToken})
	principals := []struct{ name, token string }{
		{"manager", managerTok},
		{"writer", writerTok},
		{"reader", readerTok},
		{"workspace reader", wsTok},
		{"workspace without role", devTok},
		{"no role", e.token(org, "operator")},
		{"owner without role", e.token(org, "owner")},
		{"admin without role", adminToken},
		{"another org's owner", e.token(other, "owner")},
		{"revoked token", revokedTok},
	}

	n := 0
	// fresh makes a scope with a secret "k" and every role of the table assigned.
	fresh := func() string {
		n++
		scope := fmt.Sprintf("scope-%d", n)
		e.newScope(org, managerTok, scope)
		e.grant(org, managerTok, scope, writerID, "writer")
		e.grant(org, managerTok, scope, readerID, "reader")
		e.grant(org, managerTok, scope, bystanderID, "reader")
		e.grant(org, managerTok, scope, "workspace:prod", "reader")
		e.expect(http.StatusCreated, e.putSecret(org, managerTok, scope, "k", "v"))
		return scope
	}
	type action struct {
		name string
		r    func(scope string) req
	}
	actions := []action{
		{"create scope", func(scope string) req {
			return req{method: "POST", path: scopesPath(org), body: map[string]any{"name": scope + "-new"}}
		}},
		{"view scope", func(scope string) req { return req{method: "GET", path: scopePath(org, scope)} }},
		{"view roles", func(scope string) req { return req{method: "GET", path: scopePath(org, scope) + "/roles"} }},
		{"assign role", func(scope string) req {
			return req{method: "PUT", path: scopePath(org, scope) + "/roles", body: map[string]any{"principal": bystanderID, "role": "writer"}}
		}},
		{"remove role", func(scope string) req {
			return req{method: "DELETE", path: scopePath(org, scope) + "/roles/" + bystanderID}
		}},
		{"delete scope", func(scope string) req { return req{method: "DELETE", path: scopePath(org, scope)} }},
		{"create secret", func(scope string) req {
			return req{method: "PUT", path: secretPath(org, scope, "new"), body: map[string]any{"value": "x"}}
		}},
		{"update secret", func(scope string) req {
			return req{method: "PUT", path: secretPath(org, scope, "k"), body: map[string]any{"value": "y"}}
		}},
		{"delete secret", func(scope string) req { return req{method: "DELETE", path: secretPath(org, scope, "k")} }},
		{"list keys", func(scope string) req { return req{method: "GET", path: scopePath(org, scope) + "/secrets"} }},
		{"read value", func(scope string) req { return req{method: "GET", path: secretPath(org, scope, "k")} }},
	}
	// The table, one column per principal in the order above. "403 <role>" is
	// secret_scope_role_required with details.required; "403" alone is forbidden.
	table := map[string][]string{
		//                 manager  writer       reader       ws reader ws none no role owner        admin        other  revoked
		"create scope":  {"201", "201", "201", "403", "403", "201", "201", "201", "404", "401"},
		"view scope":    {"200", "200", "200", "403", "403", "404", "200", "200", "404", "401"},
		"view roles":    {"200", "403 manager", "403 manager", "403", "403", "404", "200", "200", "404", "401"},
		"assign role":   {"200", "403 manager", "403 manager", "403", "403", "404", "200", "200", "404", "401"},
		"remove role":   {"204", "403 manager", "403 manager", "403", "403", "404", "204", "204", "404", "401"},
		"delete scope":  {"204", "403 manager", "403 manager", "403", "403", "404", "403 manager", "403 manager", "404", "401"},
		"create secret": {"201", "201", "403 writer", "403", "403", "404", "403 writer", "403 writer", "404", "401"},
		"update secret": {"200", "200", "403 writer", "403", "403", "404", "403 writer", "403 writer", "404", "401"},
		"delete secret": {"204", "204", "403 writer", "403", "403", "404", "403 writer", "403 writer", "404", "401"},
		"list keys":     {"200", "200", "403 writer", "403", "403", "404", "403 writer", "403 writer", "404", "401"},
		"read value":    {"200", "200", "200", "200", "404", "404", "403 reader", "403 reader", "404", "401"},
	}
	for _, a := range actions {
		for i, p := range principals {
			want := table[a.name][i]
			scope := fresh()
			r := a.r(scope)
			r.token = p.token
			got := e.do(r)
			status, required, _ := strings.Cut(want, " ")
			cell := fmt.Sprintf("%s as %s", a.name, p.name)
			if fmt.Sprint(got.Status) != status {
				t.Errorf("%s: %d, want %s: %s", cell, got.Status, want, got.Body)
				continue
			}
			switch {
			case status == "403" && required == "":
				if got.Code(t) != "forbidden" {
					t.Errorf("%s: code %q, want forbidden", cell, got.Code(t))
				}
			case status == "403":
				body := got.JSON(t)["error"].(map[string]any)
				if body["code"] != "secret_scope_role_required" || body["details"].(map[string]any)["required"] != required {
					t.Errorf("%s: %s, want secret_scope_role_required with details.required %s", cell, got.Body, required)
				}
			case status == "404" || status == "401":
				if strings.Contains(string(got.Body), scope) {
					t.Errorf("%s: the refusal names the scope: %s", cell, got.Body)
				}
			}
		}
	}

	// Listing shows the scopes the caller holds a role on; owners and the admin see all.
	scope := fresh()
	for i, p := range principals {
		got := e.do(req{method: "GET", path: scopesPath(org) + "?limit=500", token: p.token})
		sees := strings.Contains(string(got.Body), `"name":"`+scope+`"`)
		want := map[int]string{3: "403", 4: "403", 8: "404", 9: "401"}[i]
		switch {
		case want != "":
			if fmt.Sprint(got.Status) != want {
				t.Errorf("list scopes as %s: %d, want %s", p.name, got.Status, want)
			}
		case got.Status != http.StatusOK:
			t.Errorf("list scopes as %s: %d %s", p.name, got.Status, got.Body)
		case sees != (i != 5):
			t.Errorf("list scopes as %s: sees %s = %v", p.name, scope, sees)
		}
	}
}

// TestSecrets_WorkspaceTokenReadsGrantedSecretsAndNothingElse holds a workspace token to the one route
// it may call: every other route answers 403, another organisation's 404.
func TestSecrets_WorkspaceTokenReadsGrantedSecretsAndNothingElse(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	other := e.createOrg("Initech")
	ws, _ := e.workspace(org, "prod")
	e.newScope(org, adminToken, "snowflake-scope")
	e.expect(http.StatusCreated, e.putSecret(org, adminToken, "snowflake-scope", "snowflake-user", "etl"))
	e.grant(org, adminToken, "snowflake-scope", "workspace:prod", "reader")
	if v := e.readSecret(org, ws, "snowflake-scope", "snowflake-user"); v != "etl" {
		t.Fatalf("workspace reads %q", v)
	}
	for _, r := range []req{
		{method: "GET", path: "/v1/orgs"},
		{method: "POST", path: "/v1/key-checks", body: map[string]any{"key_arn": "arn:aws:kms:us-west-2:111122223333:key/mrk-0123456789abcdef0123456789abcdef"}},
		{method: "GET", path: "/v1/orgs/" + org},
		{method: "GET", path: "/v1/orgs/" + org + "/events"},
		{method: "GET", path: "/v1/orgs/" + org + "/key-status"},
		{method: "GET", path: "/v1/orgs/" + org + "/collections"},
		{method: "GET", path: "/v1/orgs/" + org + "/workspaces"},
		{method: "POST", path: scopesPath(org), body: map[string]any{"name": "mine"}},
		{method: "GET", path: scopesPath(org)},
		{method: "GET", path: scopePath(org, "snowflake-scope")},
		{method: "PUT", path: secretPath(org, "snowflake-scope", "snowflake-user"), body: map[string]any{"value": "x"}},
	} {
		r.token = ws
		e.wantError(http.StatusForbidden, "forbidden", r)
	}
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: "/v1/orgs/" + other, token: ws})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: secretPath(other, "snowflake-scope", "snowflake-user"), token: ws})
	// Only reader: a workspace is never writer or manager.
	for _, role := range []string{"writer", "manager"} {
		e.wantError(http.StatusUnprocessableEntity, "workspace_role_not_allowed", req{method: "PUT", path: scopePath(org, "snowflake-scope") + "/roles",
			token: adminToken, body: map[string]any{"principal": "workspace:prod", "role": role}})
	}
	// Deleting the workspace takes its tokens and its grants with it.
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org + "/workspaces/prod", token: adminToken})
	e.wantError(http.StatusUnauthorized, "unauthorized", req{method: "GET", path: secretPath(org, "snowflake-scope", "snowflake-user"), token: ws})
	roles := e.must(http.StatusOK, req{method: "GET", path: scopePath(org, "snowflake-scope") + "/roles", token: adminToken})
	if strings.Contains(fmt.Sprint(roles), "workspace:") {
		t.Fatalf("the deleted workspace keeps a role: %v", roles)
	}
}

// expect fails the test unless an answer already received has status, and decodes its body.
func (e *env) expect(status int, r response) map[string]any {
	e.t.Helper()
	if r.Status != status {
		e.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r.JSON(e.t)
}

// TestSecrets_VersionsListsEventsAndRefusals writes, replaces, lists, reads and deletes secrets, checks
// the audit trail of every act, and sends every request secret scopes refuse.
func TestSecrets_VersionsListsEventsAndRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	writer, writerID := e.tokenWithID(org, "member")
	scope := e.newScope(org, writer, "snowflake-scope")
	if scope["created_by"] != writerID || !strings.HasPrefix(scope["id"].(string), "scp_") {
		t.Fatalf("scope: %v", scope)
	}
	if roles := e.must(http.StatusOK, req{method: "GET", path: scopePath(org, "snowflake-scope") + "/roles", token: writer}); fmt.Sprint(roles["roles"]) != fmt.Sprintf("[map[principal:%s role:manager]]", writerID) {
		t.Fatalf("the creator is not the only manager: %v", roles)
	}
	first := e.expect(http.StatusCreated, e.putSecret(org, writer, "snowflake-scope", "snowflake-user", "etl_user"))
	second := e.expect(http.StatusOK, e.putSecret(org, writer, "snowflake-scope", "snowflake-user", "etl_user_2"))
	if first["version"] != 1.0 || second["version"] != 2.0 || second["created_at"] != first["created_at"] {
		t.Fatalf("versions: %v then %v", first, second)
	}
	e.expect(http.StatusCreated, e.putSecret(org, writer, "snowflake-scope", "snowflake-password", "hunter2"))
	got := e.must(http.StatusOK, req{method: "GET", path: secretPath(org, "snowflake-scope", "snowflake-user"), token: writer})
	if got["value"] != "etl_user_2" || got["version"] != 2.0 || got["key"] != "snowflake-user" {
		t.Fatalf("read: %v", got)
	}
	// The list pages through keys in the order first written, never with a value.
	var keys []string
	cursor := ""
	for {
		page := e.must(http.StatusOK, req{method: "GET", path: scopePath(org, "snowflake-scope") + "/secrets?limit=1&cursor=" + cursor, token: writer})
		for _, s := range page["secrets"].([]any) {
			m := s.(map[string]any)
			if _, ok := m["value"]; ok {
				t.Fatalf("the list shows a value: %v", m)
			}
			keys = append(keys, fmt.Sprintf("%s@%v", m["key"], m["version"]))
		}
		if cursor = page["next_cursor"].(string); cursor == "" {
			break
		}
	}
	if strings.Join(keys, ",") != "snowflake-user@2,snowflake-password@1" {
		t.Fatalf("listed %v", keys)
	}
	e.must(http.StatusNoContent, req{method: "DELETE", path: secretPath(org, "snowflake-scope", "snowflake-password"), token: writer})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: secretPath(org, "snowflake-scope", "snowflake-password"), token: writer})
	e.wantError(http.StatusNotFound, "not_found", req{method: "DELETE", path: secretPath(org, "snowflake-scope", "snowflake-password"), token: writer})

	// The audit trail: who did what to which key and version, never a value.
	actor := "token:" + writerID
	for typ, want := range map[string][]string{
		"secret_scope.created": {"map[scope:snowflake-scope]"},
		"secret.written":       {"map[key:snowflake-password scope:snowflake-scope version:1]", "map[key:snowflake-user scope:snowflake-scope version:2]", "map[key:snowflake-user scope:snowflake-scope version:1]"},
		"secret.read":          {"map[key:snowflake-user scope:snowflake-scope version:2]"},
		"secret.deleted":       {"map[key:snowflake-password scope:snowflake-scope version:1]"},
	} {
		evs := e.eventsOf(org, typ)
		var details []string
		for _, ev := range evs {
			if ev["actor"] != actor {
				t.Errorf("%s by %v, want %s", typ, ev["actor"], actor)
			}
			details = append(details, fmt.Sprint(ev["details"]))
		}
		if strings.Join(details, "; ") != strings.Join(want, "; ") {
			t.Errorf("%s details %v, want %v", typ, details, want)
		}
	}
	// Events of other types still carry details, as an empty object.
	if d := e.eventsOf(org, "org.created")[0]["details"]; fmt.Sprint(d) != "map[]" {
		t.Errorf("org.created details %v, want {}", d)
	}

	// Roles: assigned and removed on record.
	reader, readerID := e.tokenWithID(org, "member")
	e.grant(org, writer, "snowflake-scope", readerID, "reader")
	e.grant(org, writer, "snowflake-scope", readerID, "writer") // replaces
	roles := e.must(http.StatusOK, req{method: "GET", path: scopePath(org, "snowflake-scope") + "/roles", token: writer})["roles"].([]any)
	if len(roles) != 2 {
		t.Fatalf("roles %v", roles)
	}
	e.must(http.StatusNoContent, req{method: "DELETE", path: scopePath(org, "snowflake-scope") + "/roles/" + readerID, token: writer})
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: secretPath(org, "snowflake-scope", "snowflake-user"), token: reader})
	if evs := e.eventsOf(org, "secret_scope.role_assigned"); len(evs) != 2 || fmt.Sprint(evs[0]["details"]) != fmt.Sprintf("map[principal:%s role:writer scope:snowflake-scope]", readerID) {
		t.Errorf("role_assigned events %v", evs)
	}
	if evs := e.eventsOf(org, "secret_scope.role_removed"); len(evs) != 1 || fmt.Sprint(evs[0]["details"]) != fmt.Sprintf("map[principal:%s role:writer scope:snowflake-scope]", readerID) {
		t.Errorf("role_removed events %v", evs)
	}
	// The owner gives itself a role: an audited act that opens the values to it.
	owner, ownerID := e.tokenWithID(org, "owner")
	e.wantError(http.StatusForbidden, "secret_scope_role_required", req{method: "GET", path: secretPath(org, "snowflake-scope", "snowflake-user"), token: owner})
	e.grant(org, owner, "snowflake-scope", ownerID, "reader")
	if v := e.readSecret(org, owner, "snowflake-scope", "snowflake-user"); v != "etl_user_2" {
		t.Fatalf("owner reads %q", v)
	}

	path := scopePath(org, "snowflake-scope")
	wsTok, wsID := e.workspace(org, "prod")
	_ = wsTok
	for _, tc := range []struct {
		name, code string
		status     int
		r          req
	}{
		{"taken scope name", "secret_scope_name_taken", 409, req{method: "POST", path: scopesPath(org), body: map[string]any{"name": "snowflake-scope"}}},
		{"taken workspace name", "workspace_name_taken", 409, req{method: "POST", path: "/v1/orgs/" + org + "/workspaces", body: map[string]any{"name": "prod"}}},
		{"bad scope name", "invalid_request", 422, req{method: "POST", path: scopesPath(org), body: map[string]any{"name": "has space"}}},
		{"empty scope name", "invalid_request", 422, req{method: "POST", path: scopesPath(org), body: map[string]any{"name": ""}}},
		{"bad workspace name", "invalid_request", 422, req{method: "POST", path: "/v1/orgs/" + org + "/workspaces", body: map[string]any{"name": "../x"}}},
		{"unknown field", "unknown_field", 400, req{method: "POST", path: scopesPath(org), body: map[string]any{"name": "x", "owner": "me"}}},
		{"bad key", "invalid_request", 422, req{method: "PUT", path: path + "/secrets/has%20space", body: map[string]any{"value": "v"}}},
		{"key too long", "invalid_request", 422, req{method: "PUT", path: path + "/secrets/" + strings.Repeat("k", 129), body: map[string]any{"value": "v"}}},
		{"no value", "invalid_request", 422, req{method: "PUT", path: path + "/secrets/k", body: map[string]any{}}},
		{"value not a string", "invalid_json", 400, req{method: "PUT", path: path + "/secrets/k", body: map[string]any{"value": 42}}},
		{"invalid UTF-8", "invalid_json", 400, req{method: "PUT", path: path + "/secrets/k", raw: []byte("{\"value\":\"\xff\xfe\"}")}},
		{"bad role", "invalid_request", 422, req{method: "PUT", path: path + "/roles", body: map[string]any{"principal": readerID, "role": "owner"}}},
		{"unknown token", "invalid_principal", 422, req{method: "PUT", path: path + "/roles", body: map[string]any{"principal": "tok_0000000000000000", "role": "reader"}}},
		{"workspace token as principal", "invalid_principal", 422, req{method: "PUT", path: path + "/roles", body: map[string]any{"principal": wsID, "role": "reader"}}},
		{"unknown workspace", "invalid_principal", 422, req{method: "PUT", path: path + "/roles", body: map[string]any{"principal": "workspace:staging", "role": "reader"}}},
		{"malformed principal", "invalid_principal", 422, req{method: "PUT", path: path + "/roles", body: map[string]any{"principal": "everyone", "role": "reader"}}},
		{"remove a role nobody holds", "not_found", 404, req{method: "DELETE", path: path + "/roles/workspace:prod"}},
		{"remove a malformed principal", "not_found", 404, req{method: "DELETE", path: path + "/roles/nobody"}},
		{"unknown scope", "not_found", 404, req{method: "GET", path: scopePath(org, "nope")}},
		{"unknown workspace delete", "not_found", 404, req{method: "DELETE", path: "/v1/orgs/" + org + "/workspaces/staging"}},
		{"workspace token without workspace", "invalid_request", 422, req{method: "POST", path: "/v1/orgs/" + org + "/tokens", body: map[string]any{"name": "w", "role": "workspace"}}},
		{"workspace token of no workspace", "invalid_request", 422, req{method: "POST", path: "/v1/orgs/" + org + "/tokens", body: map[string]any{"name": "w", "role": "workspace", "workspace": "staging"}}},
		{"member token in a workspace", "invalid_request", 422, req{method: "POST", path: "/v1/orgs/" + org + "/tokens", body: map[string]any{"name": "w", "role": "member", "workspace": "prod"}}},
	} {
		tc.r.token = adminToken
		if tc.r.method == "PUT" || tc.r.method == "DELETE" && strings.Contains(tc.r.path, "/roles/") {
			tc.r.token = writer
		}
		resp := e.do(tc.r)
		if resp.Status != tc.status || resp.Code(t) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, resp.Status, resp.Body, tc.status, tc.code)
		}
	}
	if n := e.count(`SELECT count(*) FROM secrets WHERE key = 'k'`); n != 0 {
		t.Fatalf("refused puts stored %d rows", n)
	}
	if v := e.readSecret(org, writer, "snowflake-scope", "snowflake-user"); v != "etl_user_2" {
		t.Fatalf("after the refusals the secret reads %q", v)
	}
}

// TestSecrets_ValueLimit stores a value of exactly 64 KiB and refuses one byte more with 413, storing
// nothing and keeping the version that was there.
func TestSecrets_ValueLimit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	e.newScope(org, adminToken, "s")
	max := strings.Repeat("x", 64<<10)
	e.expect(http.StatusCreated, e.putSecret(org, adminToken, "s", "big", max))
	if v := e.readSecret(org, adminToken, "s", "big"); v != max {
		t.Fatalf("a 64 KiB value reads back %d bytes", len(v))
	}
	for _, value := range []string{
		max + "x",                      // one byte over
		max[:len(max)-1] + "é",         // 64 Ki characters, one byte over in UTF-8
		strings.Repeat("\n", 64<<10+1), // twice the bytes once escaped in JSON, still one over
	} {
		for _, key := range []string{"big", "fresh"} {
			e.wantError(http.StatusRequestEntityTooLarge, "payload_too_large", req{method: "PUT", path: secretPath(org, "s", key), token: adminToken,
				body: map[string]any{"value": value}})
		}
	}
	e.wantError(http.StatusRequestEntityTooLarge, "payload_too_large", req{method: "PUT", path: secretPath(org, "s", "fresh"), token: adminToken,
		raw: []byte(`{"value":"` + strings.Repeat("x", 2<<20) + `"}`)})
	e.wantCount(1, "secrets after refused puts", `SELECT count(*) FROM secrets`)
	got := e.must(http.StatusOK, req{method: "GET", path: secretPath(org, "s", "big"), token: adminToken})
	if got["version"] != 1.0 || got["value"] != max {
		t.Fatalf("the refused replacements changed the secret: version %v", got["version"])
	}
	e.wantEvents(1, org, "secret.written")
}

// TestSecrets_MovedRowsFailClosed moves sealed values between rows with SQL: another key's ciphertext,
// another version, another scope (with and without that scope's data key). Every read fails with
// secret_integrity_failed and never returns the other value.
func TestSecrets_MovedRowsFailClosed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, _ := e.cmekOrg("Acme")
	e.newScope(org, adminToken, "a")
	e.newScope(org, adminToken, "b")
	for _, key := range []string{"victim-1", "victim-2", "victim-3", "victim-4", "source"} {
		e.expect(http.StatusCreated, e.putSecret(org, adminToken, "a", key, "value-of-"+key))
	}
	e.expect(http.StatusCreated, e.putSecret(org, adminToken, "b", "resident", "value-of-resident"))
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		tag, err := e.db.Exec(ctx, q, args...)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("%s: %v (%d rows)", q, err, tag.RowsAffected())
		}
	}
	scopeID := func(name string) string {
		var id string
		if err := e.db.QueryRow(ctx, `SELECT id FROM secret_scopes WHERE name = $1`, name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	a, b := scopeID("a"), scopeID("b")
	for _, tc := range []struct {
		name, scope, key string
		move             func()
	}{
		{"another key's ciphertext", "a", "victim-1", func() {
			exec(`UPDATE secrets d SET nonce = s.nonce, ciphertext = s.ciphertext FROM secrets s
WHERE s.scope_id = $1 AND s.key = 'source' AND d.scope_id = $1 AND d.key = 'victim-1'`, a)
		}},
		{"another version", "a", "victim-2", func() {
			exec(`UPDATE secrets SET version = version + 1 WHERE scope_id = $1 AND key = 'victim-2'`, a)
		}},
		{"another scope", "b", "victim-3", func() {
			exec(`UPDATE secrets SET scope_id = $2 WHERE scope_id = $1 AND key = 'victim-3'`, a, b)
		}},
		{"another scope with its data key", "b", "victim-4", func() {
			exec(`UPDATE secrets SET scope_id = $2, data_key_id = (SELECT data_key_id FROM secrets WHERE scope_id = $2 AND key = 'resident')
WHERE scope_id = $1 AND key = 'victim-4'`, a, b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			defer func() { e.t = t }()
			tc.move()
			resp := e.do(req{method: "GET", path: secretPath(org, tc.scope, tc.key), token: adminToken, allow500: true})
			if resp.Status != http.StatusInternalServerError || resp.Code(t) != "secret_integrity_failed" {
				t.Fatalf("read of a moved value: %d %s", resp.Status, resp.Body)
			}
			if strings.Contains(string(resp.Body), "value-of-") {
				t.Fatalf("a moved value decrypted: %s", resp.Body)
			}
		})
	}
	e.t = t
	if v := e.readSecret(org, adminToken, "a", "source"); v != "value-of-source" {
		t.Fatalf("the source reads %q", v)
	}
}

// TestSecrets_UnusableKeyIs409AndUnreachableKMSIs503 disables the organisation's key: once the data
// key leaves the cache, reads and writes answer 409 key_unavailable and store nothing; once cmekd has
// seen the failure, they are refused at once. A frozen KMS answers 503 kms_unreachable with
// Retry-After. Both recover when the key does.
func TestSecrets_UnusableKeyIs409AndUnreachableKMSIs503(t *testing.T) {
	t.Parallel()
	e := setup(t, shortDEKCache(time.Second), func(c *config.Config) { c.KMSTimeout = 500 * time.Millisecond })
	org, key := e.cmekOrg("Acme")
	e.newScope(org, adminToken, "s")
	e.expect(http.StatusCreated, e.putSecret(org, adminToken, "s", "k", "v1"))
	probe := func() {
		e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: adminToken})
	}

	e.disableKey(key)
	var resp response
	eventually(t, 30*time.Second, "reads to fail once the data key leaves the cache", func() bool {
		resp = e.do(req{method: "GET", path: secretPath(org, "s", "k"), token: adminToken})
		return resp.Status != http.StatusOK
	})
	if resp.Status != http.StatusConflict || resp.Code(t) != "key_unavailable" ||
		resp.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["reason"] != "key_disabled" {
		t.Fatalf("read with the key disabled: %d %s", resp.Status, resp.Body)
	}
	reads := len(e.eventsOf(org, "secret.read")) // the reads served before the cache let go
	e.wantError(http.StatusConflict, "key_unavailable", req{method: "GET", path: secretPath(org, "s", "k"), token: adminToken})
	for _, k := range []string{"k", "new"} {
		e.wantError(http.StatusConflict, "key_unavailable", req{method: "PUT", path: secretPath(org, "s", k), token: adminToken, body: map[string]any{"value": "v2"}})
	}
	e.wantCount(0, "secrets written with the key disabled", `SELECT count(*) FROM secrets WHERE version > 1 OR key = 'new'`)
	if n := len(e.eventsOf(org, "secret.read")); n != reads {
		t.Fatalf("%d secret.read events for refused reads", n-reads)
	}

	e.enableKey(key)
	probe()
	if v := e.readSecret(org, adminToken, "s", "k"); v != "v1" {
		t.Fatalf("after the key came back: %q", v)
	}
	e.expect(http.StatusOK, e.putSecret(org, adminToken, "s", "k", "v2"))

	// Known unusable: refused at once, though the data key is still in the cache.
	e.disableKey(key)
	probe()
	e.wantError(http.StatusConflict, "key_unavailable", req{method: "GET", path: secretPath(org, "s", "k"), token: adminToken})
	e.wantError(http.StatusConflict, "key_unavailable", req{method: "PUT", path: secretPath(org, "s", "k"), token: adminToken, body: map[string]any{"value": "v3"}})
	e.enableKey(key)
	probe()

	e.kms.Freeze()
	eventually(t, 30*time.Second, "reads to need KMS again", func() bool {
		resp = e.do(req{method: "GET", path: secretPath(org, "s", "k"), token: adminToken})
		return resp.Status != http.StatusOK
	})
	if resp.Status != http.StatusServiceUnavailable || resp.Code(t) != "kms_unreachable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("read with KMS frozen: %d %s", resp.Status, resp.Body)
	}
	e.newScope(org, adminToken, "fresh") // its first put needs a new data key from KMS
	resp = e.wantError(http.StatusServiceUnavailable, "kms_unreachable", req{method: "PUT", path: secretPath(org, "fresh", "k"), token: adminToken, body: map[string]any{"value": "v"}})
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	e.wantCount(0, "secrets stored while KMS was frozen", `SELECT count(*) FROM secrets s JOIN secret_scopes c ON c.id = s.scope_id WHERE c.name = 'fresh'`)
	e.kms.Unfreeze()
	if v := e.readSecret(org, adminToken, "s", "k"); v != "v2" {
		t.Fatalf("after KMS returned: %q", v)
	}
	e.expect(http.StatusCreated, e.putSecret(org, adminToken, "fresh", "k", "v"))
}

// TestSecrets_CanaryValueIsNowhereButItsRead writes a canary value in a customer-managed and a
// provider-managed organisation, reads it (as a workspace too), and looks for it, and for its
// ciphertext, everywhere else: a pg_dump and every table as text, the server's logs, the events,
// the metrics, and every other answer, refusals included.
func TestSecrets_CanaryValueIsNowhereButItsRead(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cmek, _ := e.cmekOrg("Acme")
	provider := e.createOrg("Initech")
	canary := secretMarker(t)
	var answers []string
	keep := func(r response) response { answers = append(answers, string(r.Body)); return r }
	for _, org := range []string{cmek, provider} {
		ws, _ := e.workspace(org, "prod")
		e.newScope(org, adminToken, "s")
		e.grant(org, adminToken, "s", "workspace:prod", "reader")
		e.expect(http.StatusCreated, keep(e.putSecret(org, adminToken, "s", "canary", canary)))
		e.expect(http.StatusOK, keep(e.putSecret(org, adminToken, "s", "canary", canary+"-v2")))
		for _, tok := range []string{adminToken, ws} {
			if got := e.readSecret(org, tok, "s", "canary"); got != canary+"-v2" {
				t.Fatalf("read %q", got)
			}
		}
		// Refusals of a canary-bearing request never echo it.
		keep(e.wantError(http.StatusRequestEntityTooLarge, "payload_too_large", req{method: "PUT", path: secretPath(org, "s", "canary"), token: adminToken,
			body: map[string]any{"value": canary + strings.Repeat("x", 64<<10)}}))
		keep(e.wantError(http.StatusBadRequest, "unknown_field", req{method: "PUT", path: secretPath(org, "s", "canary"), token: adminToken,
			body: map[string]any{"value": canary, "secret": canary}}))
		keep(e.wantError(http.StatusBadRequest, "invalid_json", req{method: "PUT", path: secretPath(org, "s", "canary"), token: adminToken,
			raw: []byte(`{"value": "` + canary + `"`)}))
		keep(e.wantError(http.StatusForbidden, "forbidden", req{method: "PUT", path: secretPath(org, "s", "canary"), token: ws, body: map[string]any{"value": canary}}))
		keep(e.do(req{method: "GET", path: scopePath(org, "s") + "/secrets", token: adminToken}))
		keep(e.do(req{method: "GET", path: scopePath(org, "s"), token: adminToken}))
		keep(e.do(req{method: "GET", path: "/v1/orgs/" + org + "/events?limit=500", token: adminToken}))
	}
	keep(e.do(req{method: "GET", path: "/metrics", unvalidated: true}))

	var ciphertexts []string
	rows, err := e.db.Query(context.Background(), `SELECT ciphertext FROM secrets`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ct []byte
		if err := rows.Scan(&ct); err != nil {
			t.Fatal(err)
		}
		ciphertexts = append(ciphertexts, hex.EncodeToString(ct), base64.StdEncoding.EncodeToString(ct), base64.RawURLEncoding.EncodeToString(ct))
	}
	rows.Close()
	if len(ciphertexts) != 6 {
		t.Fatalf("%d ciphertext forms, want 3 for each of 2 secrets", len(ciphertexts))
	}

	forms := []string{canary, hex.EncodeToString([]byte(canary)), base64.StdEncoding.EncodeToString([]byte(canary))}
	assertNowhereInDatabase(t, e, canary)
	dump, err := exec.Command("pg_dump", "--data-only", e.dbURL).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	for _, f := range forms {
		if strings.Contains(string(dump), f) {
			t.Fatalf("the database dump holds the canary (%q)", f)
		}
	}
	for _, f := range append(forms, ciphertexts...) {
		if strings.Contains(e.logs.String(), f) {
			t.Fatalf("the logs hold %q", f)
		}
		for _, a := range answers {
			if strings.Contains(a, f) {
				t.Fatalf("an answer holds %q: %s", f, a)
			}
		}
	}
	e.wantEvents(2, cmek, "secret.read")
}

// TestSecrets_DeletingScopesAndOrgsLeavesNothing deletes a scope (its secrets, roles and data keys go
// with it, and its name can be used again) and then the organisation (every scope, secret and workspace goes).
func TestSecrets_DeletingScopesAndOrgsLeavesNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, _ := e.cmekOrg("Acme")
	_, readerID := e.tokenWithID(org, "member")
	e.workspace(org, "prod")
	for _, name := range []string{"doomed", "kept"} {
		e.newScope(org, adminToken, name)
		e.grant(org, adminToken, name, readerID, "reader")
		e.grant(org, adminToken, name, "workspace:prod", "reader")
		e.expect(http.StatusCreated, e.putSecret(org, adminToken, name, "k", "v"))
	}
	var doomed string
	if err := e.db.QueryRow(context.Background(), `SELECT id FROM secret_scopes WHERE name = 'doomed'`).Scan(&doomed); err != nil {
		t.Fatal(err)
	}
	e.must(http.StatusNoContent, req{method: "DELETE", path: scopePath(org, "doomed"), token: adminToken})
	for q, want := range map[string]int{
		`SELECT count(*) FROM secrets WHERE scope_id = $1`:                            0,
		`SELECT count(*) FROM secret_scope_roles WHERE scope_id = $1`:                 0,
		`SELECT count(*) FROM data_keys WHERE purpose = 'secrets' AND owner_id = $1`:  0,
		`SELECT count(*) FROM secret_scopes WHERE id = $1`:                            0,
		`SELECT count(*) FROM secrets WHERE scope_id <> $1`:                           1,
		`SELECT count(*) FROM data_keys WHERE purpose = 'secrets' AND owner_id <> $1`: 1,
	} {
		if n := e.count(q, doomed); n != want {
			t.Errorf("%s: %d, want %d", q, n, want)
		}
	}
	if evs := e.eventsOf(org, "secret_scope.deleted"); len(evs) != 1 || fmt.Sprint(evs[0]["details"]) != "map[data_keys_destroyed:1 scope:doomed]" {
		t.Errorf("secret_scope.deleted events %v", evs)
	}
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: scopePath(org, "doomed"), token: adminToken})
	e.newScope(org, adminToken, "doomed")
	e.wantError(http.StatusNotFound, "not_found", req{method: "GET", path: secretPath(org, "doomed", "k"), token: adminToken})

	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org, token: adminToken})
	for _, table := range []string{"secret_scopes", "secrets", "workspaces", "data_keys", "tokens"} {
		if n := e.count(`SELECT count(*) FROM `+table+` WHERE org_id = $1`, org); n != 0 {
			t.Errorf("%d rows of %s outlive their organisation", n, table)
		}
	}
	e.wantCount(0, "role assignments outliving their organisation", `SELECT count(*) FROM secret_scope_roles`)
}

// TestSecrets_ConcurrentPutsGetDistinctVersions races writes of one key: each gets its own version,
// exactly one creates the key, and the last version is the one stored.
func TestSecrets_ConcurrentPutsGetDistinctVersions(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org := e.createOrg("Acme")
	e.newScope(org, adminToken, "s")
	const writers = 8
	type result struct {
		status  int
		version float64
	}
	results := make(chan result, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			r := e.putSecret(org, adminToken, "s", "k", fmt.Sprintf("value-%d", i))
			m := r.JSON(t)
			v, _ := m["version"].(float64)
			results <- result{r.Status, v}
		})
	}
	wg.Wait()
	close(results)
	created, versions := 0, map[float64]bool{}
	for r := range results {
		if r.status == http.StatusCreated {
			created++
		} else if r.status != http.StatusOK {
			t.Fatalf("a racing put answered %d", r.status)
		}
		versions[r.version] = true
	}
	if created != 1 || len(versions) != writers || !versions[writers] {
		t.Fatalf("%d creates, versions %v", created, versions)
	}
	if got := e.must(http.StatusOK, req{method: "GET", path: secretPath(org, "s", "k"), token: adminToken}); got["version"] != float64(writers) {
		t.Fatalf("stored version %v, want %d", got["version"], writers)
	}
	e.wantEvents(writers, org, "secret.written")
}
