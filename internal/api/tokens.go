package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/access"
	"github.com/cmekd/cmekd/internal/domain"
)

type tokenJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Workspace string    `json:"workspace,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Token is the secret, present only in the answer that creates it.
	Token string `json:"token,omitempty"`
}

func toTokenJSON(t domain.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Role: string(t.Role), Workspace: t.Workspace, CreatedAt: t.CreatedAt}
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name      string `json:"name"`
		Role      string `json:"role"`
		Workspace string `json:"workspace"`
	}
	if _, err := decodeBody(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	tok, secret, err := a.access.CreateToken(r.Context(), principal(r.Context()), orgOf(r).ID,
		access.TokenInput{Name: req.Name, Role: req.Role, Workspace: req.Workspace})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := toTokenJSON(tok)
	out.Token = secret
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, out)
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	toks, next, err := a.access.Tokens(r.Context(), orgOf(r).ID, page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": mapSlice(toks, toTokenJSON), "next_cursor": next})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	if err := a.access.RevokeToken(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "tok")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
