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
	if !a.decoded(w, r, &req) {
		return
	}
	tok, secret, err := a.access.CreateToken(r.Context(), principal(r.Context()), orgOf(r).ID,
		access.TokenInput{Name: req.Name, Role: req.Role, Workspace: req.Workspace})
	replyOnce(a, w, r, tok, err, func(t domain.Token) tokenJSON {
		out := toTokenJSON(t)
		out.Token = secret
		return out
	})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.access.RevokeToken(r.Context(), principal(r.Context()), orgOf(r).ID, chi.URLParam(r, "tok")))
}
