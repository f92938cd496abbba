package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// tokenPrefix marks cmekd secrets so secret scanners can find leaked ones.
const tokenPrefix = "cmekd_"

// newTokenSecret returns a fresh secret (256 random bits) and the hash that is stored instead.
func newTokenSecret() (secret string, hash []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, hashSecret(secret)
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

var (
	errUnauthorized = domain.Errorf(http.StatusUnauthorized, domain.CodeUnauthorized,
		"send a valid token as Authorization: Bearer <token>")
	errForbidden = domain.Errorf(http.StatusForbidden, domain.CodeForbidden,
		"this token's role may not do that")
)

// authenticate resolves the bearer token into a Principal: the admin token from configuration, or a
// live organisation token looked up by the hash of its secret.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		secret = strings.TrimSpace(secret)
		if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
			a.writeError(w, r, errUnauthorized)
			return
		}
		var p domain.Principal
		switch {
		case a.adminToken != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(a.adminToken)) == 1:
			p = domain.Principal{Role: domain.RoleAdmin}
		case strings.HasPrefix(secret, tokenPrefix):
			tok, err := a.store.TokenByHash(r.Context(), hashSecret(secret))
			if err == domain.ErrNotFound {
				a.writeError(w, r, errUnauthorized)
				return
			} else if err != nil {
				a.writeError(w, r, err)
				return
			}
			p = domain.Principal{Role: tok.Role, OrgID: tok.OrgID, TokenID: tok.ID}
		default:
			a.writeError(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyPrincipal, &p)))
	})
}

func principal(ctx context.Context) domain.Principal {
	p, _ := ctx.Value(keyPrincipal).(*domain.Principal)
	return *p
}

// require refuses principals weaker than min with 403. Organisation scoping (404 for another
// organisation) is checked first by inOrg, so a foreign organisation never learns it exists.
func (a *API) require(min domain.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !principal(r.Context()).Role.AtLeast(min) {
				a.writeError(w, r, errForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// inOrg loads the organisation of the path into the context, answering 404 when it does not exist
// or the principal may not see it.
func (a *API) inOrg(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orgID := chi.URLParam(r, "org")
		if !principal(r.Context()).CanSeeOrg(orgID) || !domain.HasPrefix(orgID, "org") {
			a.writeError(w, r, domain.NotFound("organisation"))
			return
		}
		org, err := a.store.Org(r.Context(), orgID)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyOrg, &org)))
	})
}

// orgOf is the organisation inOrg loaded.
func orgOf(r *http.Request) domain.Org { return *r.Context().Value(keyOrg).(*domain.Org) }
