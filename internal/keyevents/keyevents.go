// Package keyevents takes a customer's own cloud key events (AWS EventBridge, through an API
// destination) as hints: an event about a linked key makes cmekd probe that key at once, and the
// probe, never the event (which anyone holding the api key could forge), decides the key's state.
// It turns delivery on and off, writes the setup the customer runs, authenticates and matches
// events, and coalesces the probes they ask for.
package keyevents

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cmekd/cmekd/internal/access"
	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/store"
)

// MaxEvent is the largest event accepted: EventBridge's own limit.
const MaxEvent = 256 << 10

// Prober probes one linked key now and applies the outcome (the health service).
type Prober interface {
	ProbeKey(ctx context.Context, k health.Key, keyARN, actor string) error
}

var _ Prober = (*health.Service)(nil)

// Config configures the service.
type Config struct {
	Store  *store.Store
	Prober Prober
	// Secret keys the stored hashes of api keys (the admin token: configuration, never the database).
	// Every replica must be given the same one.
	Secret string
	// PublicURL is the base URL the customer's EventBridge reaches cmekd at (CMEKD_PUBLIC_URL).
	PublicURL  string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Clock      clock.Clock
	// Every and Burst bound an organisation's events per replica: Burst at once, then one per Every.
	// Zero means one per 100 ms in bursts of 100.
	Every time.Duration
	Burst int
	// ProbeEvery is the least time between two probes of one key that events ask for; zero means 1s.
	ProbeEvery time.Duration
}

// Service is key events' use cases.
type Service struct {
	store     *store.Store
	secret    []byte
	publicURL string
	log       *slog.Logger
	clock     clock.Clock
	limits    *access.PerKey
	probes    *coalescer
	results   *prometheus.CounterVec
	dummyHash []byte // compared against when the organisation has no key events, so both take alike
}

// Results of an event delivery: the bounded label set of cmekd_key_events_total.
const (
	ResultMatched      = "matched"
	ResultUnmatched    = "unmatched"
	ResultUnauthorized = "unauthorized"
	ResultMalformed    = "malformed"
	ResultTooLarge     = "too_large"
	ResultRateLimited  = "rate_limited"
)

// New returns a Service; run it (Run) for the probes events ask for to stop with the server.
func New(cfg Config) *Service {
	mac := hmac.New(sha256.New, []byte(cfg.Secret))
	mac.Write([]byte("cmekd key events api key v1"))
	if cfg.Every <= 0 {
		cfg.Every, cfg.Burst = 100*time.Millisecond, 100
	}
	if cfg.ProbeEvery <= 0 {
		cfg.ProbeEvery = time.Second
	}
	s := &Service{store: cfg.Store, secret: mac.Sum(nil), publicURL: strings.TrimRight(cfg.PublicURL, "/"), log: cfg.Logger,
		clock: clock.Or(cfg.Clock), limits: access.NewPerKey(cfg.Every, cfg.Burst),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cmekd_key_events_total",
			Help: "Key events delivered, by result (matched, unmatched, unauthorized, malformed, too_large, rate_limited)."},
			[]string{"result"}),
	}
	for _, r := range []string{ResultMatched, ResultUnmatched, ResultUnauthorized, ResultMalformed, ResultTooLarge, ResultRateLimited} {
		s.results.WithLabelValues(r)
	}
	s.dummyHash = s.hash("kev_no-such-key")
	s.probes = newCoalescer(cfg.ProbeEvery, s.clock, func(ctx context.Context, k health.Key, arn string) {
		if err := cfg.Prober.ProbeKey(ctx, k, arn, actor); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "probe asked for by a key event", "org_id", k.OrgID, "region", k.Region, "purpose", k.Purpose,
				"key_arn", arn, "error", err.Error())
		}
	})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.results)
	}
	return s
}

// actor names key events in the audit trail and in the probes they ask for.
const actor = "key-events"

// Name names the service among the background services.
func (s *Service) Name() string { return "key-event-probes" }

// Run lets the probes events ask for run until ctx ends, then waits for those in flight.
func (s *Service) Run(ctx context.Context) error { return s.probes.run(ctx) }

func (s *Service) hash(apiKey string) []byte {
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(apiKey))
	return mac.Sum(nil)
}

// Endpoint is where organisation orgID's events are delivered.
func (s *Service) Endpoint(orgID string) string { return s.publicURL + "/v1/key-events/aws/" + orgID }

// Enabled is the answer to turning key events on: the api key, shown this once, and the setup.
type Enabled struct {
	Endpoint string
	APIKey   string
	Setup    Setup
}

// Status is an organisation's key events as GET shows them; Configured false: they are off.
type Status struct {
	Configured bool
	Endpoint   string
	domain.KeyEvents
}

// awsLinks are the organisation's key links that key events can watch, or 422 when it has none.
func awsLinks(org domain.Org) ([]domain.KeyLink, error) {
	if org.Mode == domain.ModeProviderManaged || len(org.Links) == 0 {
		return nil, domain.Invalid("key_events", "key events watch the organisation's own AWS KMS keys; a provider-managed organisation has none")
	}
	for _, l := range org.Links {
		if domain.ProviderOf(l.KeyARN) != domain.ProviderAWS {
			return nil, domain.Invalid("key_events", "key events are delivered by AWS EventBridge for AWS KMS keys only; this organisation's keys are %s keys",
				domain.ProviderOf(l.KeyARN))
		}
	}
	return org.Links, nil
}

// Enable turns the organisation's key events on, or gives it a new api key (the old one stops
// working at once), and writes the setup for its linked keys.
func (s *Service) Enable(ctx context.Context, org domain.Org) (Enabled, error) {
	links, err := awsLinks(org)
	if err != nil {
		return Enabled{}, err
	}
	apiKey := newAPIKey()
	if _, err := s.store.PutKeyEvents(ctx, org.ID, s.hash(apiKey), s.store.Now()); err != nil {
		return Enabled{}, err
	}
	endpoint := s.Endpoint(org.ID)
	return Enabled{Endpoint: endpoint, APIKey: apiKey, Setup: NewSetup(org.ID, endpoint, apiKey, links)}, nil
}

// newAPIKey is a fresh api key: 160 random bits behind a prefix secret scanners can find.
func newAPIKey() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return "kev_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// Status reads the organisation's key events.
func (s *Service) Status(ctx context.Context, org domain.Org) (Status, error) {
	k, ok, err := s.store.KeyEvents(ctx, org.ID)
	if err != nil || !ok {
		return Status{}, err
	}
	return Status{Configured: true, Endpoint: s.Endpoint(org.ID), KeyEvents: k}, nil
}

// Disable turns the organisation's key events off; 404 when they were not on.
func (s *Service) Disable(ctx context.Context, org domain.Org) error {
	ok, err := s.store.DeleteKeyEvents(ctx, org.ID)
	if err == nil && !ok {
		return domain.NotFound("key events")
	}
	return err
}

var errUnauthorized = domain.Errorf(domain.KindUnauthenticated, domain.CodeUnauthorized,
	"send the organisation's key events api key in the "+APIKeyName+" header")

// Authenticate checks an api key for an organisation. A wrong key, a missing one and an unknown
// organisation fail alike and take alike: one lookup, one keyed hash, one constant-time comparison.
func (s *Service) Authenticate(ctx context.Context, orgID, apiKey string) error {
	want := s.dummyHash
	if domain.HasPrefix(orgID, "org") {
		k, ok, err := s.store.KeyEvents(ctx, orgID)
		if err != nil {
			return err
		}
		if ok {
			want = k.APIKeyHash
		}
	}
	if !hmac.Equal(s.hash(apiKey), want) || apiKey == "" {
		s.results.WithLabelValues(ResultUnauthorized).Inc()
		return errUnauthorized
	}
	return nil
}

// Allow takes one event from the organisation's budget: 429 past it.
func (s *Service) Allow(orgID string) error {
	if ok, wait := s.limits.Allow(orgID, s.clock.Now()); !ok {
		s.results.WithLabelValues(ResultRateLimited).Inc()
		return access.RateLimited(wait)
	}
	return nil
}

// TooLarge counts an event refused for its size.
func (s *Service) TooLarge() { s.results.WithLabelValues(ResultTooLarge).Inc() }

// Receive takes one authenticated event of organisation orgID: counted, and when it names a linked
// key, recorded in the audit trail and that key probed at once. Its body is never logged.
func (s *Service) Receive(ctx context.Context, orgID string, body []byte) error {
	ev, err := Parse(body)
	if err != nil {
		s.results.WithLabelValues(ResultMalformed).Inc()
		return err
	}
	var matched []domain.KeyLink
	err = s.store.InTx(ctx, func(tx *store.Q) error {
		org, err := tx.Org(ctx, orgID)
		if err != nil {
			return err
		}
		matched = Match(ev, org.Links)
		if err := tx.CountKeyEvent(ctx, orgID, ev.Name, len(matched) > 0, tx.Now()); err != nil {
			return err
		}
		if len(matched) == 0 {
			return nil
		}
		return tx.InsertEvent(ctx, domain.Event{OrgID: orgID, Type: domain.EventKeyEventReceived, Actor: actor,
			Region: matched[0].Region, Purpose: matched[0].Purpose,
			Details: map[string]any{"event_name": ev.Name, "event_id": ev.ID}})
	})
	if err != nil {
		return err
	}
	if len(matched) == 0 {
		s.results.WithLabelValues(ResultUnmatched).Inc()
		return nil
	}
	s.results.WithLabelValues(ResultMatched).Inc()
	for _, l := range matched {
		s.probes.hint(health.Key{OrgID: l.OrgID, Region: l.Region, Purpose: l.Purpose}, l.KeyARN)
	}
	return nil
}
