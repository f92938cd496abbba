// Package api is cmekd's HTTP interface: the chi router, its middleware and the handlers of SPEC §5.
// Handlers speak domain types only; they never see pgx or AWS types.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/verify"
	"github.com/cmekd/cmekd/openapi"
)

// Body limits: documents may be large (SPEC §5), everything else is small.
const (
	maxBody          = 1 << 20
	maxDocumentsBody = 8 << 20
)

// Config is what the API needs from the rest of the server.
type Config struct {
	Store      *store.Store
	Logger     *slog.Logger
	Registry   *prometheus.Registry
	AdminToken string
	Rules      keyarn.Rules
	// Verifier proves a key usable (SPEC §4).
	Verifier *verify.Verifier
	// PlatformPrincipal is named in generated key policies.
	PlatformPrincipal string
	// Health probes keys now and resumes collections (SPEC §7).
	Health *health.Service
	// Documents ingests and reads envelope-encrypted documents (SPEC §8).
	Documents *documents.Service
}

// API serves cmekd's routes.
type API struct {
	store      *store.Store
	log        *slog.Logger
	metrics    *metrics
	adminToken string
	rules      keyarn.Rules
	router     chi.Router

	verifier          *verify.Verifier
	platformPrincipal string
	health            *health.Service
	documents         *documents.Service
}

// New builds the router.
func New(cfg Config) *API {
	a := &API{
		store:      cfg.Store,
		log:        cfg.Logger,
		metrics:    newMetrics(cfg.Registry),
		adminToken: cfg.AdminToken,
		rules:      cfg.Rules,

		verifier:          cfg.Verifier,
		platformPrincipal: cfg.PlatformPrincipal,
		health:            cfg.Health,
		documents:         cfg.Documents,
	}
	r := chi.NewRouter()
	r.Use(withRequestID, a.observe)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { a.writeError(w, r, domain.NotFound("route")) })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, domain.Errorf(http.StatusMethodNotAllowed, domain.CodeMethodNotAllowed, "method %s is not allowed here", r.Method))
	})

	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", a.readyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	r.Get("/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openapi.Spec)
	})

	r.Route("/v1", func(r chi.Router) {
		r.Use(a.authenticate)
		r.Group(func(r chi.Router) {
			r.Use(limitBody(maxBody), a.requireJSON)
			r.With(a.require(domain.RoleAdmin)).Post("/orgs", a.createOrg)
			r.Get("/orgs", a.listOrgs)
			r.Post("/key-checks", a.keyChecks)
			r.Get("/key-policy", a.keyPolicy)
			r.Route("/orgs/{org}", func(r chi.Router) {
				r.Use(a.inOrg)
				r = r.With(a.pathIDs)
				r.Get("/", a.getOrg)
				r.With(a.require(domain.RoleOwner)).Patch("/", a.patchOrg)
				r.With(a.require(domain.RoleAdmin)).Delete("/", a.deleteOrg)
				r.With(a.require(domain.RoleOwner)).Post("/tokens", a.createToken)
				r.With(a.require(domain.RoleOwner)).Get("/tokens", a.listTokens)
				r.With(a.require(domain.RoleOwner)).Delete("/tokens/{tok}", a.revokeToken)
				r.Get("/events", a.listEvents)
				r.Get("/key-status", a.keyStatus)
				r.With(a.require(domain.RoleOperator)).Post("/key-status/probe", a.probeNow)
				r.With(a.require(domain.RoleOperator)).Post("/collections", a.createCollection)
				r.Get("/collections", a.listCollections)
				r.Get("/collections/{col}", a.getCollection)
				r.With(a.require(domain.RoleOperator)).Delete("/collections/{col}", a.deleteCollection)
				r.With(a.require(domain.RoleOperator)).Post("/collections/{col}/resume", a.resumeCollection)
				r.With(a.require(domain.RoleOperator), limitBody(maxDocumentsBody)).Post("/collections/{col}/documents", a.ingestDocuments)
				r.Get("/collections/{col}/documents", a.listDocuments)
				r.Get("/collections/{col}/documents/{doc}", a.getDocument)
			})
		})
	})
	a.router = r
	return a
}

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router.ServeHTTP(w, r) }

// Routes lists every method and route pattern the router serves, for the OpenAPI coverage test.
func (a *API) Routes() []string {
	var out []string
	_ = chi.Walk(a.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, method+" "+route)
		return nil
	})
	return out
}

// pathIDs answers 404 for a collection, document or token id in the path that is not shaped like
// one: such an id names nothing, and it never reaches a query (PostgreSQL refuses NUL bytes and
// invalid UTF-8 in text). It runs per endpoint, once the router has read every path parameter.
func (a *API) pathIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range [...]struct{ param, prefix, what string }{
			{"col", "col", "collection"}, {"doc", "doc", "document"}, {"tok", "tok", "token"},
		} {
			if id := chi.URLParam(r, p.param); id != "" && !domain.HasPrefix(id, p.prefix) {
				a.writeError(w, r, domain.NotFound(p.what))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// requireJSON refuses a request body that is not JSON (415); bodiless requests pass.
func (a *API) requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody && !isJSON(r.Header.Get("Content-Type")) {
			a.writeError(w, r, errUnsupportedMediaType)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ready(ctx); err != nil {
		a.log.WarnContext(ctx, "not ready", "error", err.Error())
		a.writeError(w, r, &domain.Error{Status: http.StatusServiceUnavailable, Code: domain.CodeUnavailable,
			Message: "the database is unreachable or not migrated", RetryAfter: 5})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
