// Package server wires cmekd together: configuration, store, KMS client, API and background work.
// cmd/server runs it; end-to-end tests start the same thing on a random port.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cmekd/cmekd/internal/api"
	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/store"
)

// Server is a running cmekd.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	store    *store.Store
	api      *api.API
	http     *http.Server
	listener net.Listener
	closers  []func()
}

// Options are what tests inject; the zero value is production.
type Options struct {
	// Logger receives every log line; nil means JSON on stderr.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
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

	mr, err := keyarn.ParseMultiRegionPolicy(cfg.MultiRegionKeys)
	if err != nil {
		return nil, fmt.Errorf("configuration: CMEKD_MULTI_REGION_KEYS: %w", err)
	}
	regions := cfg.Regions
	if len(regions) == 0 {
		regions = keyarn.DefaultRegions()
	}
	for _, r := range regions {
		if !keyarn.ValidRegion(r) {
			return nil, fmt.Errorf("configuration: CMEKD_REGIONS: %q is not an AWS region name", r)
		}
	}

	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{Now: opts.Now})
	if err != nil {
		return nil, err
	}
	s.store = st
	s.closers = append(s.closers, st.Close)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s.api = api.New(api.Config{
		Store:      st,
		Logger:     log,
		Registry:   reg,
		AdminToken: string(cfg.AdminToken),
		Rules:      keyarn.Rules{Regions: regions, MultiRegion: mr},
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (CMEKD_ADDR): %w", cfg.Addr, err)
	}
	s.listener = ln
	s.http = &http.Server{
		Handler:           s.api,
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

// Routes lists every "METHOD /pattern" the server serves.
func (s *Server) Routes() []string { return s.api.Routes() }
