package api

import (
	"context"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/secrets"
)

// notWorkspace refuses workspace tokens: they may read the secrets their workspace was
// granted and nothing else, so every other route answers them 403.
func (a *API) notWorkspace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if principal(r.Context()).Role == domain.RoleWorkspace {
			a.writeError(w, r, secrets.ErrWorkspaceToken)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type workspaceJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func toWorkspaceJSON(w domain.Workspace) workspaceJSON {
	return workspaceJSON{ID: w.ID, Name: w.Name, CreatedAt: w.CreatedAt}
}

type scopeJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

func toScopeJSON(s domain.SecretScope) scopeJSON {
	return scopeJSON{ID: s.ID, Name: s.Name, CreatedAt: s.CreatedAt, CreatedBy: s.CreatedBy}
}

type roleJSON struct {
	Principal string `json:"principal"`
	Role      string `json:"role"`
}

func toRoleJSON(r domain.RoleAssignment) roleJSON {
	return roleJSON{Principal: r.Principal, Role: string(r.Role)}
}

type secretMetaJSON struct {
	Key       string    `json:"key"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toSecretMetaJSON(m domain.SecretMeta) secretMetaJSON {
	return secretMetaJSON{Key: m.Key, Version: m.Version, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

// nameBody is the body of the creates that take only a name.
type nameBody struct {
	Name string `json:"name"`
}

// createNamed is the handler of a create that takes only a name: it decodes the body and answers
// 201 with what create made of the name in the organisation, for the caller, shown with show.
func createNamed[T, J any](a *API, show func(T) J, create func(ctx context.Context, p domain.Principal, orgID, name string) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req nameBody
		if !a.decoded(w, r, &req) {
			return
		}
		v, err := create(r.Context(), principal(r.Context()), orgOf(r).ID, req.Name)
		reply(a, w, r, http.StatusCreated, v, err, show)
	}
}

func (a *API) deleteWorkspace(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.secrets.DeleteWorkspace(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "workspace")))
}

func (a *API) listScopes(w http.ResponseWriter, r *http.Request) {
	listed(a, w, r, "secret_scopes", toScopeJSON, func(p domain.Page) ([]domain.SecretScope, string, error) {
		return a.secrets.Scopes(r.Context(), principal(r.Context()), orgOf(r).ID, p)
	})
}

func (a *API) getScope(w http.ResponseWriter, r *http.Request) {
	s, err := a.secrets.Scope(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "scope"))
	reply(a, w, r, http.StatusOK, s, err, toScopeJSON)
}

func (a *API) deleteScope(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.secrets.DeleteScope(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "scope")))
}

func toRolesJSON(roles []domain.RoleAssignment) map[string]any {
	return map[string]any{"roles": mapSlice(roles, toRoleJSON)}
}

func (a *API) listRoles(w http.ResponseWriter, r *http.Request) {
	roles, err := a.secrets.Roles(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "scope"))
	reply(a, w, r, http.StatusOK, roles, err, toRolesJSON)
}

func (a *API) assignRole(w http.ResponseWriter, r *http.Request) {
	var req roleJSON
	if !a.decoded(w, r, &req) {
		return
	}
	roles, err := a.secrets.AssignRole(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "scope"),
		domain.RoleAssignment{Principal: req.Principal, Role: domain.ScopeRole(req.Role)})
	reply(a, w, r, http.StatusOK, roles, err, toRolesJSON)
}

func (a *API) removeRole(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.secrets.RemoveRole(r.Context(), principal(r.Context()), orgOf(r).ID,
		chi.URLParam(r, "scope"), chi.URLParam(r, "principal")))
}

var errInvalidUTF8 = domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "the request body is not valid UTF-8")

func (a *API) putSecret(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Value *string `json:"value"`
	}
	raw, err := decodeBody(r, &req)
	switch {
	case err != nil:
		a.writeError(w, r, err)
		return
	case !utf8.Valid(raw):
		// The decoder would quietly store U+FFFD in place of the bytes sent.
		a.writeError(w, r, errInvalidUTF8)
		return
	case req.Value == nil:
		a.writeError(w, r, domain.Invalid("value", "value is required: the secret, as a string"))
		return
	}
	meta, created, err := a.secrets.Put(r.Context(), principal(r.Context()), orgOf(r), chi.URLParam(r, "scope"), chi.URLParam(r, "key"), *req.Value)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, toSecretMetaJSON(meta))
}

func (a *API) listSecrets(w http.ResponseWriter, r *http.Request) {
	listed(a, w, r, "secrets", toSecretMetaJSON, func(p domain.Page) ([]domain.SecretMeta, string, error) {
		return a.secrets.List(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "scope"), p)
	})
}

func (a *API) getSecret(w http.ResponseWriter, r *http.Request) {
	s, err := a.secrets.Read(r.Context(), principal(r.Context()), orgOf(r), chi.URLParam(r, "scope"), chi.URLParam(r, "key"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, struct {
		Key       string    `json:"key"`
		Value     string    `json:"value"`
		Version   int       `json:"version"`
		UpdatedAt time.Time `json:"updated_at"`
	}{s.Key, s.Value, s.Version, s.UpdatedAt})
}

func (a *API) deleteSecret(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.secrets.DeleteSecret(r.Context(), principal(r.Context()), orgOf(r).ID,
		chi.URLParam(r, "scope"), chi.URLParam(r, "key")))
}
