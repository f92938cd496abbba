// Package gcp is the emulator's Google Cloud KMS: the Cloud KMS v1 gRPC API and its IAM mixin
// over TLS, enforcing IAM policies for service accounts that authenticate as Google's clients do
// with a service-account key file, and the OAuth token endpoint those key files name.
package gcp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Options configure an Emulator.
type Options struct {
	Now            func() time.Time // the clock; nil = time.Now
	Logger         *slog.Logger     // one line per request: method, resource, caller, outcome; nil = discard
	CredentialsDir string           // where AddIdentity writes key files
	// TokenURL is the token_uri written into key files; "" = https://<listener address>/token,
	// known once Serve starts (key files are written again then).
	TokenURL string
	OnChange func() // called after every change of state, outside the emulator's lock
}

// Emulator is an in-memory Google Cloud KMS.
type Emulator struct {
	opts Options
	grpc *grpc.Server

	mu    sync.Mutex
	st    *state
	dirty bool   // a change not yet reported to OnChange
	addr  string // the listener's address, once serving
	srv   *http.Server

	signatures verifiedSignatures // JWT signatures already verified
}

// New returns an empty emulator.
func New(opts Options) (*Emulator, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &Emulator{opts: opts, st: newState()}
	e.st.TokenSecret = make([]byte, 32)
	if _, err := rand.Read(e.st.TokenSecret); err != nil {
		return nil, err
	}
	e.grpc = grpc.NewServer(grpc.UnaryInterceptor(e.intercept))
	kmspb.RegisterKeyManagementServiceServer(e.grpc, &kmsServer{e: e})
	iampb.RegisterIAMPolicyServer(e.grpc, &iamServer{e: e})
	return e, nil
}

// Serve answers on ln with TLS until Close: gRPC (Cloud KMS and IAM) and, on the same port, the
// OAuth token endpoint at /token (HTTP/1.1 or HTTP/2, told apart by content type).
func (e *Emulator) Serve(ln net.Listener, tlsCfg *tls.Config) error {
	srv := &http.Server{
		Handler:           http.HandlerFunc(e.route),
		TLSConfig:         tlsCfg.Clone(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(e.opts.Logger.Handler(), slog.LevelWarn),
	}
	e.mu.Lock()
	if e.srv != nil {
		e.mu.Unlock()
		return errors.New("gcp: Serve called twice")
	}
	e.srv, e.addr = srv, loopback(ln.Addr().String())
	err := e.writeKeyFiles()
	e.mu.Unlock()
	if err != nil {
		return err
	}
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loopback makes a wildcard listener address one a client can dial.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Close stops serving.
func (e *Emulator) Close() error {
	e.mu.Lock()
	srv := e.srv
	e.mu.Unlock()
	e.grpc.Stop()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

func (e *Emulator) tokenURL() string {
	if e.opts.TokenURL != "" {
		return e.opts.TokenURL
	}
	return "https://" + e.addr + "/token"
}

func (e *Emulator) route(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		e.grpc.ServeHTTP(w, r)
		return
	}
	if r.URL.Path == "/token" {
		e.serveToken(w, r)
		return
	}
	http.NotFound(w, r)
}

type callerKey struct{}

// intercept authenticates every call and logs its outcome.
func (e *Emulator) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	email, err := e.caller(ctx)
	if err == nil {
		resp, err = handler(context.WithValue(ctx, callerKey{}, email), req)
	}
	e.log(info.FullMethod, req, email, err)
	return resp, err
}

func (e *Emulator) log(method string, req any, email string, err error) {
	var resource string
	for _, get := range []func(any) string{nameOf, parentOf, resourceOf} {
		resource += get(req)
	}
	e.opts.Logger.Info("gcp "+method[strings.LastIndex(method, "/")+1:],
		"resource", resource, "caller", email, "outcome", status.Code(err).String())
}

func nameOf(r any) string {
	if v, ok := r.(interface{ GetName() string }); ok {
		return v.GetName()
	}
	return ""
}

func parentOf(r any) string {
	if v, ok := r.(interface{ GetParent() string }); ok {
		return v.GetParent()
	}
	return ""
}

func resourceOf(r any) string {
	if v, ok := r.(interface{ GetResource() string }); ok {
		return v.GetResource()
	}
	return ""
}

// changed reports a change of state to OnChange, once for any number of changes made since.
func (e *Emulator) changed() {
	e.mu.Lock()
	dirty := e.dirty
	e.dirty = false
	e.mu.Unlock()
	if dirty && e.opts.OnChange != nil {
		e.opts.OnChange()
	}
}
