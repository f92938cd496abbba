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

// authenticate resolves the bearer token into the request's Principal. On a document read (the hot
// path) an organisation token recently resolved is taken from the access service's cache without
// asking the database: the read's own statement checks that the token is still live, and any other
// answer has it checked first (writeError), so a revoked token answers 401 at once on every replica.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		secret = strings.TrimSpace(secret)
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			secret = ""
		}
		st := &authed{}
		var err error
		checked := true
		if documentRead(r) {
			st.Principal, checked, err = a.access.AuthenticateProvisionally(r.Context(), secret)
		} else {
			st.Principal, err = a.access.Authenticate(r.Context(), secret)
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if !checked {
			st.secret, st.pending = secret, true
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyPrincipal, st)))
	})
}

// authed is the request's principal; pending while it came from the token cache and its token has
// not been confirmed live yet.
type authed struct {
	domain.Principal
	secret  string
	pending bool
}

func principal(ctx context.Context) domain.Principal {
	p, _ := ctx.Value(keyPrincipal).(*authed)
	return p.Principal
}

// pendingToken is the id of the request's token when it still has to be confirmed live (by the
// statement the handler runs), else "".
func pendingToken(r *http.Request) string {
	if st, ok := r.Context().Value(keyPrincipal).(*authed); ok && st.pending {
		return st.TokenID
	}
	return ""
}

// confirm checks a pending token live before err is answered, and returns what to answer: err, or
// 401 when the token has been revoked since it was cached.
func (a *API) confirm(r *http.Request, err error) error {
	st, ok := r.Context().Value(keyPrincipal).(*authed)
	if !ok || !st.pending {
		return err
	}
	st.pending = false
	if _, aerr := a.access.Authenticate(r.Context(), st.secret); aerr != nil {
		return aerr
	}
	return err
}

// documentRead reports whether r is a GET of a collection's documents or of one document
// (/v1/orgs/{org}/collections/{col}/documents[/{doc}]), the routes whose statement checks the token,
// looking at the path the router routes on.
func documentRead(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	rest, ok := strings.CutPrefix(path, "/v1/orgs/")
	if !ok {
		return false
	}
	var seg [5]string
	n := 0
	for n < len(seg) {
		s, tail, more := strings.Cut(rest, "/")
		if s == "" {
			return false
		}
		seg[n], n, rest = s, n+1, tail
		if !more {
			break
		}
		if n == len(seg) {
			return false
		}
	}
	return (n == 4 || n == 5) && seg[1] == "collections" && seg[3] == "documents"
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
