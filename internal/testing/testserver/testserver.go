// Package testserver starts the real cmekd for tests outside internal/e2e (the CLI's, the console's):
// a fresh PostgreSQL database (internal/testing/testkit), the KMS emulator over real HTTP (internal/testing/kmstest)
// and the server on a random loopback port. It depends only on server.New and Run, so it survives
// changes to how the server is put together.
package testserver

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/server"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// AdminToken is the platform operator's token of every test server.
const AdminToken = "admin-token-for-tests-0123456789abcdef"

// Home is the region test organisations and keys live in: the emulator's home region.
const Home = kmstest.EmulatorRegion

// Server is one running cmekd with its own database and KMS emulator.
type Server struct {
	// URL is where it answers, e.g. http://127.0.0.1:41234.
	URL string
	// KMS is its emulator, to create and break customer keys with.
	KMS *kmstest.Env
	// Env is the configuration it was started with, as CMEKD_* variables.
	Env  map[string]string
	logs *testkit.SyncBuffer
}

// Option changes how Start runs the server.
type Option func(*startOptions)

type startOptions struct{ grants bool }

// GrantMode runs the server with KMS grants: as two identities, the control identity
// (kmstest.ControlPrincipal) that verifies keys and makes grants, and the data identity
// (kmstest.DataPrincipal) that uses them. Keys then need the whole policy cmekd generates
// (GET /v1/key-policy?template=full), and a customer revokes access with RevokeGrant.
func GrantMode(o *startOptions) { o.grants = true }

// Start runs a server for the duration of t; env overrides or adds CMEKD_* variables.
func Start(t testing.TB, env map[string]string, opts ...Option) *Server {
	t.Helper()
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	kenv := kmstest.StartEmulator(t)
	vars := map[string]string{
		"CMEKD_ADDR":               "127.0.0.1:0",
		"CMEKD_DATABASE_URL":       testkit.Database(t),
		"CMEKD_ADMIN_TOKEN":        AdminToken,
		"CMEKD_KMS_ENDPOINT":       kenv.Endpoint,
		"CMEKD_KMS_TIMEOUT":        "2s",
		"CMEKD_PLATFORM_PRINCIPAL": kenv.PlatformPrincipal,
		"CMEKD_PROVIDER_KEY_ARN":   kenv.CreateCustomerKey(t, Home, kmstest.KeyOptions{}),
		"CMEKD_REGIONS":            "us-west-2,us-east-1,eu-west-1",
	}
	if o.grants {
		vars["CMEKD_PLATFORM_PRINCIPAL"] = kmstest.ControlPrincipal
		vars["CMEKD_DATA_PRINCIPAL"] = kmstest.DataPrincipal
		vars["CMEKD_DATA_PROFILE"] = "cmekd-data"
	}
	maps.Copy(vars, env)
	cfg, err := config.Load(vars)
	if err != nil {
		t.Fatalf("testserver: configuration: %v", err)
	}
	logs := &testkit.SyncBuffer{}
	sopts := server.Options{
		Logger:         slog.New(slog.NewJSONHandler(logs, nil)),
		KMSCredentials: credentials.NewStaticCredentialsProvider(kenv.PlatformAccessKey, "test", ""),
		VerifyBackoff:  []time.Duration{10 * time.Millisecond},
	}
	if o.grants { // the emulator maps each identity's access key to its role
		sopts.KMSCredentials = credentials.NewStaticCredentialsProvider(kmstest.ControlAccessKey, "test", "")
		sopts.DataKMSCredentials = credentials.NewStaticCredentialsProvider(kmstest.DataAccessKey, "test", "")
	}
	srv, _ := Run(t, cfg, sopts)
	return &Server{URL: srv.URL(), KMS: kenv, Env: vars, logs: logs}
}

// StartDev runs the server as `make run` does (CMEKD_DEV=1: an embedded KMS emulator, a fresh admin
// token) on a free loopback port with a fresh database, and returns the banner it printed.
func StartDev(t testing.TB) (banner string) {
	t.Helper()
	// Dev mode prints its address before it listens, so it is given a port, not :0.
	addr := testkit.FreeAddr(t)
	cfg, err := config.Load(map[string]string{"CMEKD_DEV": "1", "CMEKD_ADDR": addr, "CMEKD_DATABASE_URL": testkit.Database(t)})
	if err != nil {
		t.Fatalf("testserver: configuration: %v", err)
	}
	var out bytes.Buffer
	Run(t, cfg, server.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), DevOutput: &out,
		VerifyBackoff: []time.Duration{10 * time.Millisecond}})
	return out.String()
}

// Run starts a server on cfg and opts for the duration of t. stop stops it as a kill would for its
// leases: its work in flight is cut off and nothing it held is handed back; t's cleanup calls it
// too, and it is safe to call twice.
func Run(t testing.TB, cfg config.Config, opts server.Options) (srv *server.Server, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, opts)
	if err != nil {
		cancel()
		t.Fatalf("testserver: start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("testserver: server stopped with %v", err)
		}
		srv.Close()
	})
	t.Cleanup(stop)
	return srv, stop
}

// Logs is every line the server has logged so far, for tests that look for leaked secrets.
func (s *Server) Logs() string { return s.logs.String() }
