// Package server wires cmekd together: configuration, store, KMS client, API and background work.
// cmd/server runs it; end-to-end tests start the same thing on a random port.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cmekd/cmekd/internal/access"
	"github.com/cmekd/cmekd/internal/api"
	"github.com/cmekd/cmekd/internal/background"
	"github.com/cmekd/cmekd/internal/backups"
	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/collections"
	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/console"
	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/envelope"
	"github.com/cmekd/cmekd/internal/grants"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/idempotency"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keyevents"
	"github.com/cmekd/cmekd/internal/keyring"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/orgs"
	"github.com/cmekd/cmekd/internal/provider"
	awsprovider "github.com/cmekd/cmekd/internal/provider/aws"
	"github.com/cmekd/cmekd/internal/providerkey"
	"github.com/cmekd/cmekd/internal/secrets"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/verify"
	"github.com/cmekd/cmekd/internal/version"
	"github.com/cmekd/cmekd/internal/webhooks"
)

// Server is a running cmekd.
type Server struct {
	cfg        config.Config
	log        *slog.Logger
	store      *store.Store
	api        *api.API
	http       *http.Server
	listener   net.Listener
	background []background.Service
	closers    []func()
}

// Options are what tests inject; the zero value is production.
type Options struct {
	// Logger receives every log line; nil means JSON on stderr.
	Logger *slog.Logger
	// Clock is the one clock of the store, monitor, data-key cache, keyring and background services;
	// nil means the wall clock.
	Clock clock.Clock
	// KMSCredentials are the platform's AWS credentials; nil means the standard chain (or dev mode's).
	KMSCredentials aws.CredentialsProvider
	// DataKMSCredentials are the data identity's in grant mode; nil means the shared
	// config profile CMEKD_DATA_PROFILE.
	DataKMSCredentials aws.CredentialsProvider
	// DevOutput receives dev mode's banner; nil means stdout.
	DevOutput io.Writer
	// DevPostgres is where dev mode looks for PostgreSQL; the zero value means this machine's usual places.
	DevPostgres DevPostgres
	// VerifyBackoff overrides the waits between retries of transient KMS failures during verification.
	VerifyBackoff []time.Duration
	// BackupPageSize is how many documents one step of a backup or restore moves, and BackupLease how
	// long a backup's worker may go silent before its backup is failed; zero means the defaults.
	BackupPageSize int
	BackupLease    time.Duration
}

// New builds a server from cfg: it opens (and migrates) the database and binds the listen address,
// but serves nothing until Run.
func New(ctx context.Context, cfg config.Config, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	creds := opts.KMSCredentials
	var dev *devEnv
	if cfg.Dev {
		// The database first: the emulator's state file is named after it.
		db, err := devDatabase(&cfg, opts.DevPostgres, log)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, db.stop)
		if dev, err = devMode(ctx, &cfg, log); err != nil {
			return nil, err
		}
		dev.database = db.banner
		s.closers = append(s.closers, dev.stop)
		if creds == nil {
			creds = dev.creds
		}
	}
	// config.Load has checked every value; this only turns the setting into its type.
	mr, err := keyarn.ParseMultiRegionPolicy(cfg.MultiRegionKeys)
	if err != nil {
		return nil, fmt.Errorf("configuration: CMEKD_MULTI_REGION_KEYS: %w", err)
	}

	clk := clock.Or(opts.Clock)
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{Clock: clk})
	if err != nil {
		return nil, err
	}
	s.store = st
	s.closers = append(s.closers, st.Close)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		version.Collector())

	kmsClient, err := kms.New(ctx, kms.Config{Endpoint: cfg.KMSEndpoint, Credentials: creds,
		Timeout: cfg.KMSTimeout, Clock: clk, Registerer: reg, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("configuration: CMEKD_KMS_ENDPOINT: %w", err)
	}
	rules := keyarn.Rules{Regions: cfg.Regions, MultiRegion: mr}
	// In grant mode the data identity alone encrypts and decrypts: the data path, the
	// crypto checks of verification and the probes run as it, through the grants the control
	// identity attaches.
	dataClient := kmsClient
	verifyOpts := verify.Options{Backoff: opts.VerifyBackoff}
	var granter *grants.Granter
	if cfg.GrantMode() {
		dataClient, err = kms.New(ctx, kms.Config{Endpoint: cfg.KMSEndpoint, Credentials: opts.DataKMSCredentials,
			Profile: cfg.DataProfile, Timeout: cfg.KMSTimeout, Clock: clk, Registerer: reg, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("configuration: CMEKD_DATA_PROFILE: %w", err)
		}
		granter = grants.NewGranter(grants.GranterConfig{Control: kmsClient, Data: dataClient,
			ControlPrincipal: cfg.PlatformPrincipal, DataPrincipal: cfg.DataPrincipal, Store: st, Logger: log})
		verifyOpts.Data, verifyOpts.Granter = dataClient, granter
	}
	verifier := verify.New(kmsClient, rules, verifyOpts)
	// Every key is reached through the provider set, which routes each call by the key id's cloud.
	var cloudCreds cloudCredentials
	if dev != nil {
		cloudCreds = dev.clouds
	}
	clouds, closeClouds, err := cloudProviders(ctx, cfg, cloudCreds)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, closeClouds)
	providers := provider.NewSet(cfg.GrantMode(), append([]provider.Provider{awsprovider.New(awsprovider.Config{Data: dataClient,
		Verifier: verifier, Rules: rules, PlatformPrincipal: cfg.PlatformPrincipal, DataPrincipal: cfg.DataPrincipal})}, clouds...)...)
	// The platform's key is checked like a customer's: unusable, it stops the server here;
	// unreachable, /readyz answers 503 until the background check passes.
	platformKey := providerkey.New(providerkey.Config{ARNs: cfg.ProviderKeys(), Verifier: providers, Logger: log,
		Interval: cfg.ProbeInterval})
	if err := platformKey.Start(ctx); err != nil {
		return nil, err
	}

	reg.MustRegister(health.NewGauges(st))
	cache := envelope.NewCache(envelope.CacheOptions{TTL: cfg.DEKCacheTTL, MaxEntries: dekCacheEntries, Clock: clk, Registerer: reg})
	// Plaintext data keys leave memory when the server stops.
	s.closers = append(s.closers, cache.Purge)
	healthSvc := health.New(health.Config{Store: st, Verifier: providers, Provider: platformKey, Logger: log, Registerer: reg,
		Interval: cfg.ProbeInterval, PauseAfter: cfg.PauseAfter, Unusable: func(arn string) { cache.DropKey(arn) },
		IntervalWithEvents: cfg.ProbeIntervalWithEvents, EventsFresh: cfg.EventsFresh})
	// A lease is the probe interval, never more, so a dead replica's keys are probed again within an
	// interval however short it is; a probe that KMS does not answer within three quarters
	// of it is cut off and recorded as a transient failure.
	monitor := health.NewMonitor(healthSvc, health.MonitorConfig{Owner: replicaName(), MaxRPS: cfg.ProbeMaxRPS, Clock: clk})

	keys := keyring.New(keyring.Config{Store: st, KMS: providers, Cache: cache, Clock: clk, Provider: platformKey,
		MaxAge: cfg.DEKMaxAge, MaxUses: cfg.DEKMaxDocuments})
	idem := idempotency.New(st, string(cfg.AdminToken))
	guard := webhooks.NewGuard(cfg.WebhookHTTPHosts, nil)
	dispatcher, err := webhooks.NewDispatcher(webhooks.DispatcherConfig{Store: st, Keyring: keys, ProviderKeyARN: webhookKey(cfg), Guard: guard, Logger: log,
		Registerer: reg, Clock: clk, Owner: replicaName(), RetryBase: cfg.WebhookRetryBase})
	if err != nil {
		return nil, err
	}

	backupSvc := backups.New(backups.Config{Store: st, Keyring: keys, KMS: providers, ProviderKeys: cfg.ProviderKeys(), Logger: log,
		Owner: replicaName(), PageSize: opts.BackupPageSize, Lease: opts.BackupLease, Clock: clk})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (CMEKD_ADDR): %w", cfg.Addr, err)
	}
	s.listener = specListener{ln}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = localURL(ln.Addr())
	}
	keyEvents := keyevents.New(keyevents.Config{Store: st, Prober: healthSvc, Secret: string(cfg.AdminToken), PublicURL: publicURL,
		Logger: log, Registerer: reg, Clock: clk})

	s.background = []background.Service{
		monitor,
		// The probes key events ask for stop with the server.
		keyEvents,
		platformKey,
		// Expired data keys leave memory at least every quarter of their TTL, so a key nobody reads
		// again does not linger until the next read of it.
		background.Every("dek-cache-sweeper", max(cfg.DEKCacheTTL/4, 100*time.Millisecond), log,
			func(context.Context) error { cache.Sweep(); return nil }),
		// What a probe on any replica found unusable leaves this replica's memory within a second.
		background.Every("dek-cache-revoker", time.Second, log, keys.DropUnavailable()),
		background.Every("idempotency-purger", replayPurgeEvery, log, idem.Purge),
		dispatcher,
		// Deleted organisations' grants are retired by any replica, until KMS confirms.
		grants.NewRetirer(grants.RetirerConfig{Store: st, Control: kmsClient, Owner: replicaName(), Logger: log,
			KMSTimeout: cfg.KMSTimeout}),
		// Fails the backups whose worker died; on shutdown, stops this replica's copies in flight.
		backupSvc,
	}
	if cfg.GrantMode() {
		// Grants another replica made are used here with their tokens until KMS shows them everywhere.
		s.background = append(s.background, grants.NewTokenSharer(st, dataClient, log, time.Second))
	}
	accessSvc := access.New(st, string(cfg.AdminToken), cfg.MaxTokensPerOrg)
	s.api = api.New(api.Config{
		Logger:   log,
		Registry: reg,
		Ready: func(ctx context.Context) error {
			if err := st.Ready(ctx); err != nil {
				return err
			}
			return platformKey.Ready(ctx)
		},
		Idempotency:      idem,
		Clock:            clk,
		MaxInflightBytes: cfg.MaxInflightBytes,
		Access:           accessSvc,
		Orgs: orgs.New(orgs.Config{Store: st, Verifier: providers, Idempotency: idem, Logger: log, Rules: rules,
			PlatformPrincipal: cfg.PlatformPrincipal, DataPrincipal: cfg.DataPrincipal, Grants: granter, Health: healthSvc,
			KeyChecksPerSecond: keyChecksPerSecond,
			ProviderRegion:     func(region string) bool { _, ok := platformKey.For(region); return ok },
			IsProviderKey:      platformKey.Is, Providers: providers}),
		Grants: grants.NewService(grants.ServiceConfig{Store: st, Verifier: verifier, Granter: granter,
			DataPrincipal: cfg.DataPrincipal, Prober: healthSvc, Logger: log}),
		Collections: collections.New(collections.Config{Store: st, Health: healthSvc, MaxPerOrg: cfg.MaxCollectionsPerOrg}),
		Documents: documents.New(documents.Config{Store: st, Keyring: keys, Idempotency: idem,
			ProviderKeys: cfg.ProviderKeys()}),
		Health:    healthSvc,
		Secrets:   secrets.New(secrets.Config{Store: st, Keyring: keys, ProviderKeys: cfg.ProviderKeys(), Limits: cfg.Limits()}),
		Webhooks:  webhooks.New(webhooks.Config{Store: st, Keyring: keys, Guard: guard, ProviderKeyARN: webhookKey(cfg), MaxPerOrg: cfg.MaxWebhooksPerOrg}),
		Backups:   backupSvc,
		KeyEvents: keyEvents,
	})
	// The web console shares the listener; its session cookie authenticates API calls.
	cons, err := console.New(console.Config{API: s.api, Secret: []byte(cfg.AdminToken), Clock: clk, Logger: log,
		Sessions: accessSvc})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	s.http = &http.Server{
		Handler:           cons.Wrap(s.api),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ok = true
	if dev != nil {
		// Printed only now that the database answers and the address is bound: what it says works.
		out := opts.DevOutput
		if out == nil {
			out = os.Stdout
		}
		dev.banner(out)
	}
	return s, nil
}

// localURL is the base URL of a listener on this machine: CMEKD_PUBLIC_URL's default, on loopback
// when the listener takes every address.
func localURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// URL is the base URL the server answers on.
func (s *Server) URL() string { return "http://" + s.listener.Addr().String() }

// Store is the server's database, for tests that look behind the API.
func (s *Server) Store() *store.Store { return s.store }

// Run serves until ctx is cancelled, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.listener) }()
	// Background work stops with ctx; Run returns only after all of it has.
	bgCtx, stopBackground := context.WithCancel(ctx)
	wait := background.Start(bgCtx, s.log, s.background...)
	defer func() { stopBackground(); wait() }()
	s.log.Info("cmekd listening", "addr", s.listener.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.http.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	s.log.Info("cmekd stopped")
	return nil
}

// Close releases what New acquired; call it after Run returns.
func (s *Server) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
	if s.listener != nil {
		s.listener.Close()
	}
}

// dekCacheEntries bounds the plaintext data keys held in memory: one per active collection data key,
// 32 bytes each, so the bound is about memory only in the pathological case.
const dekCacheEntries = 100_000

// keyChecksPerSecond bounds the key checks a replica runs (up to four KMS calls each), whoever asks.
const keyChecksPerSecond = 20

// replayPurgeEvery is how often stored Idempotency-Key answers past their 24 hours are deleted.
const replayPurgeEvery = time.Hour

// replicaName identifies this process in leases: host name, process id and a random suffix.
func replicaName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), domain.NewID("r"))
}

// Routes lists every "METHOD /pattern" the server serves.
func (s *Server) Routes() []string { return s.api.Routes() }

// webhookKey is the platform key that seals webhook signing secrets: the first CMEKD_PROVIDER_KEY_ARN
// lists (they are the platform's, not a region's).
func webhookKey(cfg config.Config) string {
	if keys := cfg.ProviderKeys(); len(keys) > 0 {
		return keys[0]
	}
	return ""
}
