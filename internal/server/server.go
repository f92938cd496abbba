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
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cmekd/cmekd/internal/api"
	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/console"
	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/envelope"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/verify"
)

// Server is a running cmekd.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	store    *store.Store
	api      *api.API
	http     *http.Server
	listener net.Listener
	monitor  *health.Monitor
	cache    *envelope.Cache
	closers  []func()
}

// Options are what tests inject; the zero value is production.
type Options struct {
	// Logger receives every log line; nil means JSON on stderr.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// KMSCredentials are the platform's AWS credentials; nil means the standard chain (or dev mode's).
	KMSCredentials aws.CredentialsProvider
	// DevOutput receives dev mode's banner; nil means stdout.
	DevOutput io.Writer
	// VerifyBackoff overrides the waits between retries of transient KMS failures during verification.
	VerifyBackoff []time.Duration
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
	if cfg.Dev {
		out := opts.DevOutput
		if out == nil {
			out = os.Stdout
		}
		devCreds, stop, err := devMode(ctx, &cfg, log, out)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, stop)
		if creds == nil {
			creds = devCreds
		}
	}
	// config.Load has checked every value; this only turns the setting into its type.
	mr, err := keyarn.ParseMultiRegionPolicy(cfg.MultiRegionKeys)
	if err != nil {
		return nil, fmt.Errorf("configuration: CMEKD_MULTI_REGION_KEYS: %w", err)
	}

	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{Now: opts.Now})
	if err != nil {
		return nil, err
	}
	s.store = st
	s.closers = append(s.closers, st.Close)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	kmsClient, err := kms.New(ctx, kms.Config{Endpoint: cfg.KMSEndpoint, Credentials: creds,
		Timeout: cfg.KMSTimeout, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("configuration: CMEKD_KMS_ENDPOINT: %w", err)
	}
	rules := keyarn.Rules{Regions: cfg.Regions, MultiRegion: mr}
	verifier := verify.New(kmsClient, rules, verify.Options{Backoff: opts.VerifyBackoff})

	healthSvc := health.New(health.Config{Store: st, Verifier: verifier, Logger: log, Registerer: reg,
		Interval: cfg.ProbeInterval, PauseAfter: cfg.PauseAfter})
	s.monitor = health.NewMonitor(healthSvc, health.MonitorConfig{Owner: replicaName(), MaxRPS: cfg.ProbeMaxRPS, Now: opts.Now,
		// A lease outlasts a probe that meets timeouts on every call (three calls, one retry each);
		// with the default interval of a minute, that is the interval itself.
		Lease: max(cfg.ProbeInterval, 6*cfg.KMSTimeout)})

	cache := envelope.NewCache(envelope.CacheOptions{TTL: cfg.DEKCacheTTL, MaxEntries: dekCacheEntries, Now: opts.Now, Registerer: reg})
	s.cache = cache
	// Plaintext data keys leave memory when the server stops.
	s.closers = append(s.closers, cache.Purge)
	docs := documents.New(documents.Config{Store: st, KMS: kmsClient, Cache: cache, ProviderKeyARN: cfg.ProviderKeyARN,
		MaxAge: cfg.DEKMaxAge, MaxDocuments: cfg.DEKMaxDocuments})

	s.api = api.New(api.Config{
		Store:             st,
		Logger:            log,
		Registry:          reg,
		AdminToken:        string(cfg.AdminToken),
		Rules:             rules,
		Verifier:          verifier,
		PlatformPrincipal: cfg.PlatformPrincipal,
		Health:            healthSvc,
		Documents:         docs,
	})
	// The web console (SPEC §15) shares the listener; its session cookie authenticates API calls.
	cons, err := console.New(console.Config{API: s.api, Secret: []byte(cfg.AdminToken), Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (CMEKD_ADDR): %w", cfg.Addr, err)
	}
	s.listener = ln
	s.http = &http.Server{
		Handler:           cons.Wrap(s.api),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ok = true
	return s, nil
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
	var bg sync.WaitGroup
	bg.Go(func() { _ = s.monitor.Run(bgCtx) })
	// Expired data keys leave memory at least every quarter of their TTL, so a key nobody reads
	// again does not linger until the next read of it.
	bg.Go(func() {
		every(bgCtx, max(s.cfg.DEKCacheTTL/4, 100*time.Millisecond), func(context.Context) { s.cache.Sweep() })
	})
	bg.Go(func() { every(bgCtx, replayPurgeEvery, s.purgeReplays) })
	defer func() { stopBackground(); bg.Wait() }()
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

// replayPurgeEvery is how often stored Idempotency-Key answers past their 24 hours are deleted.
const replayPurgeEvery = time.Hour

// purgeReplays deletes expired Idempotency-Key answers. Every replica may; the DELETE is idempotent.
func (s *Server) purgeReplays(ctx context.Context) {
	if err := s.store.PurgeReplays(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("purge expired idempotency keys", "error", err.Error())
	}
}

// every runs fn now and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// replicaName identifies this process in leases: host name, process id and a random suffix.
func replicaName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), domain.NewID("r"))
}

// Routes lists every "METHOD /pattern" the server serves.
func (s *Server) Routes() []string { return s.api.Routes() }
