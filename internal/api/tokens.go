package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

type tokenJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	// Token is the secret, present only in the answer that creates it.
	Token string `json:"token,omitempty"`
}

func toTokenJSON(t domain.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Role: string(t.Role), CreatedAt: t.CreatedAt}
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if _, err := decodeBody(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	name, err := validName("name", req.Name)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	role := domain.Role(req.Role)
	if !role.Valid() {
		a.writeError(w, r, domain.Invalid("role", "role must be owner, operator or member"))
		return
	}
	org := orgOf(r)
	secret, hash := newTokenSecret()
	tok := domain.Token{ID: domain.NewID("tok"), OrgID: org.ID, Name: name, Role: role}
	err = a.store.InTx(r.Context(), func(tx *store.Tx) error {
		tok.CreatedAt = tx.Now()
		if err := tx.InsertToken(r.Context(), tok, hash); err != nil {
			return err
		}
		return tx.InsertEvent(r.Context(), domain.Event{OrgID: org.ID, Type: domain.EventTokenCreated,
			Actor: principal(r.Context()).Actor(), Reason: tok.ID + " (" + string(role) + ")"})
	})
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
	toks, next, err := a.store.Tokens(r.Context(), orgOf(r).ID, page)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]tokenJSON, len(toks))
	for i, t := range toks {
		out[i] = toTokenJSON(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out, "next_cursor": next})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	org := orgOf(r)
	id := chi.URLParam(r, "tok")
	err := a.store.InTx(r.Context(), func(tx *store.Tx) error {
		if err := tx.RevokeToken(r.Context(), org.ID, id); err != nil {
			return err
		}
		return tx.InsertEvent(r.Context(), domain.Event{OrgID: org.ID, Type: domain.EventTokenRevoked,
			Actor: principal(r.Context()).Actor(), Reason: id})
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
