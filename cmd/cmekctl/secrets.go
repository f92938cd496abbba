package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/cmekd/cmekd/client"
)

// scopeCommands are the rows of secret scopes, their roles, secrets and workspaces (SPEC §13).
var scopeCommands = []command{
	{name: "scopes", orgScoped: true, summary: "list the secret scopes this token holds a role on (owners: all)",
		help: `Lists the organisation's secret scopes that this token holds a role on; an owner or the admin
sees every scope. Values are never shown here.`,
		setup: noFlags(pagedList(func(ctx context.Context, e *env, _ []string, cursor *string, limit *int) (*client.ListSecretScopesResponse, error) {
			return e.api.ListSecretScopesWithResponse(ctx, e.org, &client.ListSecretScopesParams{Cursor: cursor, Limit: limit})
		}, func(r *client.ListSecretScopesResponse) ([]client.SecretScope, string) {
			return r.JSON200.SecretScopes, r.JSON200.NextCursor
		},
			func(e *env, all []client.SecretScope) { e.scopes(client.SecretScopeList{SecretScopes: all}) }))},
	{name: "scopes create", args: []string{"SCOPE"}, orgScoped: true, summary: "create a secret scope; you become its manager",
		help: `Creates the secret scope SCOPE (a name that can stand in a path, e.g. snowflake-scope). Any token of
the organisation but a workspace's may; the creating token becomes the scope's manager.`,
		setup: noFlags(request(func(ctx context.Context, e *env, args []string) (*client.CreateSecretScopeResponse, error) {
			return e.api.CreateSecretScopeWithResponse(ctx, e.org, client.SecretScopeCreate{Name: args[0]})
		}, func(e *env, r *client.CreateSecretScopeResponse) error {
			e.scopes(client.SecretScopeList{SecretScopes: []client.SecretScope{*r.JSON201}})
			return nil
		}))},
	{name: "scopes get", args: []string{"SCOPE"}, orgScoped: true, summary: "show one secret scope",
		help: `Shows the secret scope SCOPE: its id, who created it and when.`,
		setup: noFlags(request(func(ctx context.Context, e *env, args []string) (*client.GetSecretScopeResponse, error) {
			return e.api.GetSecretScopeWithResponse(ctx, e.org, args[0])
		}, func(e *env, r *client.GetSecretScopeResponse) error {
			e.scopes(client.SecretScopeList{SecretScopes: []client.SecretScope{*r.JSON200}})
			return nil
		}))},
	{name: "scopes delete", args: []string{"SCOPE"}, orgScoped: true, summary: "delete a secret scope with its secrets and roles (manager)",
		help: `Deletes the secret scope SCOPE with every secret in it and every role on it. There is no undo.`,
		setup: noFlags(func(ctx context.Context, e *env, args []string) error {
			r, err := e.api.DeleteSecretScopeWithResponse(ctx, e.org, args[0])
			return done(e, "deleted scope "+args[0], e.answer(r, err))
		})},

	{name: "roles", orgScoped: true, summary: "list who holds which role on a secret scope (manager)",
		help: `Lists the role assignments of the scope named by -s: token ids (tok_…) and workspaces
(workspace:<name>), each with manager, writer or reader.`,
		setup: scoped(false, func(*flag.FlagSet) func(context.Context, *env, string, string) error {
			return func(ctx context.Context, e *env, scope, _ string) error {
				r, err := e.api.ListSecretScopeRolesWithResponse(ctx, e.org, scope)
				if err := e.answer(r, err); err != nil {
					return err
				}
				e.roles(r.JSON200)
				return nil
			}
		})},
	{name: "roles assign", orgScoped: true, summary: "give a token or a workspace a role on a secret scope (manager)",
		help: `Gives --principal (a token id tok_…, or workspace:<name>) the --role manager, writer or reader on
the scope named by -s, replacing any role it held there; a workspace may only be reader. Prints the
scope's roles as they now stand.`,
		setup: scoped(false, func(fs *flag.FlagSet) func(context.Context, *env, string, string) error {
			principal := fs.String("principal", "", "who: a token id `tok_…` or workspace:<name> (required)")
			role := fs.String("role", "", "the `ROLE`: manager, writer or reader (required)")
			return func(ctx context.Context, e *env, scope, _ string) error {
				if *principal == "" || *role == "" {
					return errors.New("--principal and --role are required")
				}
				r, err := e.api.AssignSecretScopeRoleWithResponse(ctx, e.org, scope,
					client.AssignSecretScopeRoleJSONRequestBody{Principal: *principal, Role: client.ScopeRole(*role)})
				if err := e.answer(r, err); err != nil {
					return err
				}
				e.roles(r.JSON200)
				return nil
			}
		})},
	{name: "roles remove", orgScoped: true, summary: "take a token's or a workspace's role on a secret scope away (manager)",
		help: `Removes the role --principal (tok_… or workspace:<name>) holds on the scope named by -s.`,
		setup: scoped(false, func(fs *flag.FlagSet) func(context.Context, *env, string, string) error {
			principal := fs.String("principal", "", "whose role: a token id `tok_…` or workspace:<name> (required)")
			return func(ctx context.Context, e *env, scope, _ string) error {
				if *principal == "" {
					return errors.New("--principal is required")
				}
				r, err := e.api.RemoveSecretScopeRoleWithResponse(ctx, e.org, scope, *principal)
				return done(e, "removed the role of "+*principal+" on "+scope, e.answer(r, err))
			}
		})},

	{name: "secrets", orgScoped: true, summary: "list a secret scope's keys and versions, never values (writer)",
		help: `Lists the keys of the scope named by -s with their versions and times. Values are never listed:
cmekctl secrets get reads one.`,
		setup: scoped(false, func(*flag.FlagSet) func(context.Context, *env, string, string) error {
			return func(ctx context.Context, e *env, scope, _ string) error {
				return pagedList(func(ctx context.Context, e *env, _ []string, cursor *string, limit *int) (*client.ListSecretsResponse, error) {
					return e.api.ListSecretsWithResponse(ctx, e.org, scope, &client.ListSecretsParams{Cursor: cursor, Limit: limit})
				}, func(r *client.ListSecretsResponse) ([]client.SecretMeta, string) {
					return r.JSON200.Secrets, r.JSON200.NextCursor
				},
					func(e *env, all []client.SecretMeta) { e.secrets(client.SecretList{Secrets: all}) })(ctx, e, nil)
			}
		})},
	{name: "secrets put", orgScoped: true, summary: "write a secret from a file or stdin, never an argument (writer)",
		help: `Writes the secret -k KEY in the scope -s SCOPE, creating it or replacing it with a new version.
The value is read from -f FILE, or from stdin with -f -, so that it stays out of shell history and
ps: it is the file's bytes exactly (a trailing newline included; printf '%s' writes none), valid
UTF-8, at most 64 KiB. The value is never printed: the answer is the key and its version.`,
		setup: scoped(true, func(fs *flag.FlagSet) func(context.Context, *env, string, string) error {
			file := fs.String("f", "", "the `FILE` holding the value; - is stdin (required)")
			return func(ctx context.Context, e *env, scope, key string) error {
				value, err := readValue(*file, e.stdin)
				if err != nil {
					return err
				}
				r, err := e.api.PutSecretWithResponse(ctx, e.org, scope, key, client.PutSecretJSONRequestBody{Value: value})
				if err := e.answer(r, err); err != nil {
					return err
				}
				meta := r.JSON200
				if r.JSON201 != nil {
					meta = r.JSON201
				}
				e.secrets(client.SecretList{Secrets: []client.SecretMeta{*meta}})
				return nil
			}
		})},
	{name: "secrets get", orgScoped: true, summary: "print a secret's value, and nothing else (reader)",
		help: `Prints the value of the secret -k KEY in the scope -s SCOPE exactly as it was written, with no
newline added, so that $(cmekctl secrets get ...) and > FILE keep it intact. -o json prints
{"key", "value", "version", "updated_at"} instead. Workspace tokens may read the scopes their
workspace is reader of. Every read is an event (secret.read) in the audit trail.`,
		setup: scoped(true, func(*flag.FlagSet) func(context.Context, *env, string, string) error {
			return func(ctx context.Context, e *env, scope, key string) error {
				r, err := e.api.GetSecretWithResponse(ctx, e.org, scope, key)
				if err := e.answer(r, err); err != nil {
					return err
				}
				if e.output == "json" {
					return e.raw(r.Body)
				}
				_, err = io.WriteString(e.stdout, r.JSON200.Value)
				return err
			}
		})},
	{name: "secrets delete", orgScoped: true, summary: "delete a secret with every version of it (writer)",
		help: `Deletes the secret -k KEY of the scope -s SCOPE. There is no undo.`,
		setup: scoped(true, func(*flag.FlagSet) func(context.Context, *env, string, string) error {
			return func(ctx context.Context, e *env, scope, key string) error {
				r, err := e.api.DeleteSecretWithResponse(ctx, e.org, scope, key)
				return done(e, "deleted "+key+" of "+scope, e.answer(r, err))
			}
		})},

	{name: "workspaces", orgScoped: true, summary: "list the organisation's workspaces (operator)",
		help: `Lists the organisation's workspaces: principals whose tokens (tokens create --role workspace
--workspace NAME) read the secrets of the scopes they are reader of, and nothing else.`,
		setup: noFlags(pagedList(func(ctx context.Context, e *env, _ []string, cursor *string, limit *int) (*client.ListWorkspacesResponse, error) {
			return e.api.ListWorkspacesWithResponse(ctx, e.org, &client.ListWorkspacesParams{Cursor: cursor, Limit: limit})
		}, func(r *client.ListWorkspacesResponse) ([]client.Workspace, string) {
			return r.JSON200.Workspaces, r.JSON200.NextCursor
		},
			func(e *env, all []client.Workspace) { e.workspaces(client.WorkspaceList{Workspaces: all}) }))},
	{name: "workspaces create", args: []string{"WORKSPACE"}, orgScoped: true, summary: "create a workspace (operator)",
		help: `Creates the workspace WORKSPACE (e.g. prod). Grant it reader on a scope with cmekctl roles assign
--principal workspace:WORKSPACE --role reader, and give its jobs a token with cmekctl tokens create
--role workspace --workspace WORKSPACE.`,
		setup: noFlags(request(func(ctx context.Context, e *env, args []string) (*client.CreateWorkspaceResponse, error) {
			return e.api.CreateWorkspaceWithResponse(ctx, e.org, client.WorkspaceCreate{Name: args[0]})
		}, func(e *env, r *client.CreateWorkspaceResponse) error {
			e.workspaces(client.WorkspaceList{Workspaces: []client.Workspace{*r.JSON201}})
			return nil
		}))},
	{name: "workspaces delete", args: []string{"WORKSPACE"}, orgScoped: true, summary: "delete a workspace with its tokens and roles (operator)",
		help: `Deletes the workspace WORKSPACE, revoking its tokens and removing its roles on every scope.`,
		setup: noFlags(func(ctx context.Context, e *env, args []string) error {
			r, err := e.api.DeleteWorkspaceWithResponse(ctx, e.org, args[0])
			return done(e, "deleted workspace "+args[0], e.answer(r, err))
		})},
}

// scoped is setup for a command on the secret scope named by -s, and on one of its keys named by -k
// when withKey: more declares the command's other flags and returns what runs.
func scoped(withKey bool, more func(fs *flag.FlagSet) func(ctx context.Context, e *env, scope, key string) error) func(*flag.FlagSet) func(context.Context, *env, []string) error {
	return func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		scope := fs.String("s", "", "the secret scope's `NAME` (required)")
		key := new(string)
		if withKey {
			key = fs.String("k", "", "the secret's `KEY` (required)")
		}
		runScoped := more(fs)
		return func(ctx context.Context, e *env, _ []string) error {
			if *scope == "" || (withKey && *key == "") {
				if withKey {
					return errors.New("-s SCOPE and -k KEY are required")
				}
				return errors.New("-s SCOPE is required")
			}
			return runScoped(ctx, e, *scope, *key)
		}
	}
}

// done ends a command whose answer has no body: it says what was done on stderr, or returns err.
func done(e *env, what string, err error) error {
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stderr, what)
	return nil
}

// maxValue is the largest secret value the server takes (SPEC §13).
const maxValue = 64 << 10

// readValue reads a secret's value from file ("-": r), exactly, refusing what JSON cannot carry.
func readValue(file string, r io.Reader) (string, error) {
	if file == "" {
		return "", errors.New("-f FILE is required (- reads stdin): a value never comes from an argument")
	}
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxValue+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxValue {
		return "", errors.New("the value is larger than 64 KiB")
	}
	if !utf8.Valid(b) {
		return "", errors.New("the value is not UTF-8 text (base64-encode binary values first)")
	}
	return string(b), nil
}

func (e *env) scopes(l client.SecretScopeList) {
	list(e, l, l.SecretScopes, "NAME\tID\tCREATED BY\tCREATED", func(s client.SecretScope) (string, []any) {
		return s.Id, []any{s.Name, s.Id, s.CreatedBy, stamp(s.CreatedAt)}
	})
}

func (e *env) roles(l *client.RoleList) {
	list(e, l, l.Roles, "PRINCIPAL\tROLE", func(r client.RoleAssignment) (string, []any) {
		return r.Principal, []any{r.Principal, r.Role}
	})
}

func (e *env) secrets(l client.SecretList) {
	list(e, l, l.Secrets, "KEY\tVERSION\tCREATED\tUPDATED", func(s client.SecretMeta) (string, []any) {
		return s.Key, []any{s.Key, s.Version, stamp(s.CreatedAt), stamp(s.UpdatedAt)}
	})
}

func (e *env) workspaces(l client.WorkspaceList) {
	list(e, l, l.Workspaces, "NAME\tID\tCREATED", func(w client.Workspace) (string, []any) {
		return w.Id, []any{w.Name, w.Id, stamp(w.CreatedAt)}
	})
}
