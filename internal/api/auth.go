package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/access"
	"github.com/cmekd/cmekd/internal/domain"
)

var errForbidden = domain.Errorf(domain.KindForbidden, domain.CodeForbidden, "this token's role may not do that")

// authenticate resolves the bearer token into the request's Principal.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		secret = strings.TrimSpace(secret)
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			secret = ""
		}
		p, err := a.access.Authenticate(r.Context(), secret)
		if err != nil {
			a.writeError(w, r, err)
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
// organisation) is checked first by inOrgScope, so a foreign organisation never learns it exists.
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

// throttle refuses a route's request with 429 rate_limited while its token's bucket, or then its
// organisation's, is empty. The token's is taken first, so that a token over its own bound does not
// drain what its organisation's other tokens may use. The admin, the platform's own operator, is not
// throttled (the platform-wide bounds still hold).
func (a *API) throttle() func(http.Handler) http.Handler {
	perToken, perOrg := access.NewPerKey(tokenEvery, tokenBurst), access.NewPerKey(orgEvery, orgBurst)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := principal(r.Context())
			if p.Role != domain.RoleAdmin {
				now := a.clock.Now()
				ok, wait := perToken.Allow(p.TokenID, now)
				if ok {
					ok, wait = perOrg.Allow(p.OrgID, now)
				}
				if !ok {
					a.writeError(w, r, access.RateLimited(wait))
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// inOrgScope answers 404 for an organisation in the path that the principal may not see (or that is
// not shaped like an organisation id), before anything else: a foreign organisation answers 404 to
// every token. It reads nothing; inOrg then loads the organisation, except on the routes whose
// service reads it together with the rest of its work in one round trip (document reads).
func (a *API) inOrgScope(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orgID := chi.URLParam(r, "org")
		if !principal(r.Context()).CanSeeOrg(orgID) || !domain.HasPrefix(orgID, "org") {
			a.writeError(w, r, domain.NotFound("organisation"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// inOrg loads the organisation of the path (inOrgScope has let it through) into the context,
// answering 404 when it does not exist.
func (a *API) inOrg(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, err := a.orgs.Get(r.Context(), chi.URLParam(r, "org"))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyOrg, &org)))
	})
}

// orgOf is the organisation inOrg loaded.
func orgOf(r *http.Request) domain.Org { return *r.Context().Value(keyOrg).(*domain.Org) }
