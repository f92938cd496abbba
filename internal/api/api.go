// Package api is cmekd's HTTP interface: the chi router, its middleware and the handlers of the
// public API.
// A handler decodes the request, calls one use-case service and encodes the answer; handlers speak
// domain types only and never see the store, pgx or AWS types.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cmekd/cmekd/internal/access"
	"github.com/cmekd/cmekd/internal/backups"
	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/collections"
	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/grants"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/idempotency"
	"github.com/cmekd/cmekd/internal/keyevents"
	"github.com/cmekd/cmekd/internal/orgs"
	"github.com/cmekd/cmekd/internal/secrets"
	"github.com/cmekd/cmekd/internal/webhooks"
	"github.com/cmekd/cmekd/openapi"
)

// A token may make the platform call KMS (key checks, probes-now) in bursts of tokenBurst, then once
// every tokenEvery: enough for a person at the onboarding wizard, too little to drive
// KMS on someone else's behalf.
// An organisation's tokens together may do so in bursts of orgBurst, then once every orgEvery: more
// tokens do not buy more KMS calls.
const (
	tokenEvery = time.Second
	tokenBurst = 10
	orgEvery   = 500 * time.Millisecond
	orgBurst   = 20
)

// Body limits: documents may be large, everything else is small. An ingest holds its body
// twice over while it runs: the body and its documents compacted. Its documents are sealed one at a
// time as the database connection takes them (a document's row and the connection's chunk, under
// 320 KiB together, are within memoryBase), never all at once.
const (
	maxBody          = 1 << 20
	maxDocumentsBody = 8 << 20
	ingestHolds      = 2
)

// Config is what the API needs from the rest of the server.
type Config struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Ready reports whether the database answers, every migration is applied and the provider key has
	// passed a check (/readyz).
	Ready func(context.Context) error
	// Idempotency reads Idempotency-Key headers into keys the services honour.
	Idempotency *idempotency.Keeper
	// Clock times the per-token rate limits; nil means the wall clock.
	Clock clock.Clock
	// MaxInflightBytes bounds the memory the bodies of requests in flight take together; zero means
	// DefaultMaxInflightBytes.
	MaxInflightBytes int64
	// The use-case services the handlers call.
	Access      *access.Service
	Orgs        *orgs.Service
	Grants      *grants.Service
	Collections *collections.Service
	Documents   *documents.Service
	Health      *health.Service
	Secrets     *secrets.Service
	Webhooks    *webhooks.Service
	Backups     *backups.Service
	KeyEvents   *keyevents.Service
}

// API serves cmekd's routes.
type API struct {
	log         *slog.Logger
	metrics     *metrics
	ready       func(context.Context) error
	idem        *idempotency.Keeper
	clock       clock.Clock
	inflight    *inflight
	router      chi.Router
	access      *access.Service
	orgs        *orgs.Service
	grants      *grants.Service
	collections *collections.Service
	documents   *documents.Service
	health      *health.Service
	secrets     *secrets.Service
	webhooks    *webhooks.Service
	backups     *backups.Service
	keyEvents   *keyevents.Service
}

// New builds the router.
func New(cfg Config) *API {
	a := &API{
		log:         cfg.Logger,
		metrics:     newMetrics(cfg.Registry),
		ready:       cfg.Ready,
		idem:        cfg.Idempotency,
		clock:       clock.Or(cfg.Clock),
		inflight:    newInflight(cfg.MaxInflightBytes),
		access:      cfg.Access,
		orgs:        cfg.Orgs,
		grants:      cfg.Grants,
		collections: cfg.Collections,
		documents:   cfg.Documents,
		health:      cfg.Health,
		secrets:     cfg.Secrets,
		webhooks:    cfg.Webhooks,
		backups:     cfg.Backups,
		keyEvents:   cfg.KeyEvents,
	}
	r := chi.NewRouter()
	r.Use(withRequestID, a.observe, a.admit)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { a.writeError(w, r, domain.NotFound("route")) })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, domain.Errorf(domain.KindMethodNotAllowed, domain.CodeMethodNotAllowed, "method %s is not allowed here", r.Method))
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
	browserRoutes(r)

	// A customer's EventBridge delivers key events here: no bearer token, the organisation's events api
	// key instead (checked by the handler), so it stands outside /v1's authentication.
	r.Post("/v1/key-events/aws/{org}", a.receiveKeyEvent)

	r.Route("/v1", func(r chi.Router) {
		r.Use(a.authenticate, limitBody(maxBody, 1), a.requireJSON)
		r.Group(func(r chi.Router) {
			r.Use(a.notWorkspace)
			r.With(a.require(domain.RoleAdmin)).Post("/orgs", a.createOrg)
			r.Get("/orgs", a.listOrgs)
			r.With(a.require(domain.RoleAdmin)).Get("/events", a.listAllEvents)
			r.With(a.throttle()).Post("/key-checks", a.keyChecks)
			r.Get("/key-policy", a.keyPolicy)
		})
		r.Route("/orgs/{org}", func(r chi.Router) {
			// Organisation scoping comes first, so a foreign organisation answers 404 to every token.
			r.Use(a.inOrgScope)
			// Documents leave reading the organisation to their service, which reads it with the
			// collection in one round trip; every other route has it loaded first.
			r.With(a.pathIDs, a.notWorkspace).Get("/collections/{col}/documents", a.listDocuments)
			r.With(a.pathIDs, a.notWorkspace).Get("/collections/{col}/documents/{doc}", a.getDocument)
			r.With(a.pathIDs, a.notWorkspace, a.require(domain.RoleOperator), limitBody(maxDocumentsBody, ingestHolds)).
				Post("/collections/{col}/documents", a.ingestDocuments)
			r = r.With(a.inOrg, a.pathIDs)
			// The one route a workspace token may call.
			r.Get("/secret-scopes/{scope}/secrets/{key}", a.getSecret)
			r.Group(func(r chi.Router) {
				r.Use(a.notWorkspace)
				a.orgRoutes(r)
			})
		})
	})
	a.router = r
	return a
}

// orgRoutes are the organisation's routes that every token but a workspace token may call, grouped by
// the least role each needs.
func (a *API) orgRoutes(r chi.Router) {
	// Every organisation token. Access to secret scopes is by role on the scope, which the secrets
	// service checks.
	r.Get("/", a.getOrg)
	r.Get("/events", a.listEvents)
	r.Get("/key-status", a.keyStatus)
	r.Get("/key-events", a.getKeyEvents)
	r.Get("/regions", a.listRegions)
	r.Get("/regions/{region}", a.getRegion)
	r.Get("/grants", a.listGrants)
	r.Get("/collections", orgListed(a, "collections", toCollectionJSON, a.collections.List))
	r.Get("/collections/{col}", orgItem(a, "col", toCollectionJSON, a.collections.Get))
	r.Get("/backups", a.listBackups)
	r.Get("/backups/{bak}", a.getBackup)
	r.Post("/secret-scopes", createNamed(a, toScopeJSON, a.secrets.CreateScope))
	r.Get("/secret-scopes", a.listScopes)
	r.Get("/secret-scopes/{scope}", a.getScope)
	r.Delete("/secret-scopes/{scope}", a.deleteScope)
	r.Get("/secret-scopes/{scope}/roles", a.listRoles)
	r.Put("/secret-scopes/{scope}/roles", a.assignRole)
	r.Delete("/secret-scopes/{scope}/roles/{principal}", a.removeRole)
	r.Get("/secret-scopes/{scope}/secrets", a.listSecrets)
	r.Put("/secret-scopes/{scope}/secrets/{key}", a.putSecret)
	r.Delete("/secret-scopes/{scope}/secrets/{key}", a.deleteSecret)
	r.Group(func(r chi.Router) {
		r.Use(a.require(domain.RoleOperator))
		// Probing and renewing reach the customer's KMS: each is throttled per token and organisation.
		r.With(a.throttle()).Post("/key-status/probe", a.probeNow)
		r.With(a.throttle()).Post("/grants/renew", a.renewGrants)
		r.Post("/regions", a.addRegion)
		r.Post("/collections", a.createCollection)
		r.Delete("/collections/{col}", a.deleteCollection)
		r.Post("/collections/{col}/resume", a.resumeCollection)
		r.Post("/collections/{col}/backups", a.createBackup)
		r.Delete("/backups/{bak}", a.deleteBackup)
		r.Post("/backups/{bak}/restore", a.restoreBackup)
		r.Post("/workspaces", createNamed(a, toWorkspaceJSON, a.secrets.CreateWorkspace))
		r.Get("/workspaces", orgListed(a, "workspaces", toWorkspaceJSON, a.secrets.Workspaces))
		r.Delete("/workspaces/{workspace}", a.deleteWorkspace)
	})
	r.Group(func(r chi.Router) {
		r.Use(a.require(domain.RoleOwner)) // the organisation itself, its tokens, key events and webhooks
		r.Patch("/", a.patchOrg)
		r.Post("/tokens", a.createToken)
		r.Get("/tokens", orgListed(a, "tokens", toTokenJSON, a.access.Tokens))
		r.Delete("/tokens/{tok}", a.revokeToken)
		r.Post("/key-events", a.enableKeyEvents)
		r.Delete("/key-events", a.disableKeyEvents)
		r.Post("/webhooks", a.createWebhook)
		r.Get("/webhooks", orgListed(a, "webhooks", toWebhookJSON, a.webhooks.List))
		r.Get("/webhooks/{wh}", orgItem(a, "wh", toWebhookJSON, a.webhooks.Get))
		r.Delete("/webhooks/{wh}", a.deleteWebhook)
		r.Post("/webhooks/{wh}/test", a.testWebhook)
		r.Get("/webhooks/{wh}/deliveries", a.listDeliveries)
	})
	r.With(a.require(domain.RoleAdmin)).Delete("/", a.deleteOrg)
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

// pathIDs answers 404 for a collection, document, token, webhook or backup id in the path that is not shaped like
// one: such an id names nothing, and it never reaches a query (PostgreSQL refuses NUL bytes and
// invalid UTF-8 in text). It runs per endpoint, once the router has read every path parameter.
func (a *API) pathIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range [...]struct{ param, prefix, what string }{
			{"col", "col", "collection"}, {"doc", "doc", "document"}, {"tok", "tok", "token"}, {"wh", "wh", "webhook"},
			{"bak", "bak", "backup"},
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
	if err := a.ready(ctx); err != nil {
		a.log.WarnContext(ctx, "not ready", "error", err.Error())
		a.writeError(w, r, &domain.Error{Kind: domain.KindUnavailable, Code: domain.CodeUnavailable,
			Message: "not ready: the database is unreachable or not migrated, or the provider key is not verified yet", RetryAfter: 5})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
