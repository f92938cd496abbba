package api

import (
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

func (a *API) createWorkspace(w http.ResponseWriter, r *http.Request) {
	var req nameBody
	if _, err := decodeBody(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	ws, err := a.secrets.CreateWorkspace(r.Context(), principal(r.Context()), orgOf(r).ID, req.Name)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toWorkspaceJSON(ws))
}

func (a *API) listWorkspaces(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	wss, next, err := a.secrets.Workspaces(r.Context(), orgOf(r).ID, page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workspaces": mapSlice(wss, toWorkspaceJSON), "next_cursor": next})
}

func (a *API) deleteWorkspace(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.secrets.DeleteWorkspace(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "workspace")))
}

// noContent answers 204, or the error.
func (a *API) noContent(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) createScope(w http.ResponseWriter, r *http.Request) {
	var req nameBody
	if _, err := decodeBody(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	s, err := a.secrets.CreateScope(r.Context(), principal(r.Context()), orgOf(r).ID, req.Name)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toScopeJSON(s))
}

func (a *API) listScopes(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	scopes, next, err := a.secrets.Scopes(r.Context(), principal(r.Context()), orgOf(r).ID, page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"secret_scopes": mapSlice(scopes, toScopeJSON), "next_cursor": next})
}

func (a *API) getScope(w http.ResponseWriter, r *http.Request) {
	s, err := a.secrets.Scope(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "scope"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toScopeJSON(s))
}

func (a *API) deleteScope(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.secrets.DeleteScope(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "scope")))
}

func writeRoles(w http.ResponseWriter, roles []domain.RoleAssignment) {
	writeJSON(w, http.StatusOK, map[string]any{"roles": mapSlice(roles, toRoleJSON)})
}

func (a *API) listRoles(w http.ResponseWriter, r *http.Request) {
	roles, err := a.secrets.Roles(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "scope"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeRoles(w, roles)
}

func (a *API) assignRole(w http.ResponseWriter, r *http.Request) {
	var req roleJSON
	if _, err := decodeBody(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	roles, err := a.secrets.AssignRole(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "scope"),
		domain.RoleAssignment{Principal: req.Principal, Role: domain.ScopeRole(req.Role)})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeRoles(w, roles)
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
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	metas, next, err := a.secrets.List(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "scope"), page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"secrets": mapSlice(metas, toSecretMetaJSON), "next_cursor": next})
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
