// Command kms-emulator serves the AWS KMS emulator over HTTP, for local
// development and tests with aws-sdk-go-v2, the AWS CLI
// (aws kms --endpoint-url http://127.0.0.1:4599 …) or Terraform's AWS
// provider. Its state is in memory unless -state names a file to keep it in.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	awsemu "github.com/cmekd/cmekd/emulator/aws"
	"github.com/cmekd/cmekd/internal/version"
)

// stdout is where -version answers (logs go to the writer run is given).
var stdout io.Writer = os.Stdout

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kms-emulator:", err)
		os.Exit(1)
	}
}

// config is what the command line asks for.
type config struct {
	addr, account, stateFile string
	principals               map[string]string
	replicaDelay, eventDelay time.Duration
	showVersion              bool
	clouds                   clouds
}

// parse reads the command line args; usage and errors go to out.
func parse(args []string, out io.Writer) (*config, error) {
	c := &config{principals: map[string]string{}}
	fs := flag.NewFlagSet("kms-emulator", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:4599", "listen address")
	fs.StringVar(&c.account, "account", awsemu.DefaultAccount, "AWS account that owns the keys")
	fs.Func("principal", "`AKID=ARN`: the principal an access key id acts as (repeatable)", func(s string) error {
		akid, arn, ok := strings.Cut(s, "=")
		if !ok || akid == "" || !strings.HasPrefix(arn, "arn:") {
			return fmt.Errorf("want AKID=ARN, got %q", s)
		}
		c.principals[akid] = arn
		return nil
	})
	fs.StringVar(&c.stateFile, "state", "", "`FILE` that keeps keys, policies, grants, aliases and tags across restarts (rewritten atomically after each change); empty: in memory only")
	fs.DurationVar(&c.replicaDelay, "replica-delay", awsemu.DefaultReplicaDelay, "how long a new multi-region replica stays Creating before it is Enabled")
	fs.DurationVar(&c.eventDelay, "event-delay", 0, "how long EventBridge waits before delivering a key event to an API destination")
	fs.BoolVar(&c.showVersion, "version", false, "print the version, commit and build date, and exit")
	c.clouds.flags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := c.clouds.check(); err != nil {
		return nil, err
	}
	if c.showVersion {
		return c, nil
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case c.replicaDelay < 0:
		return nil, fmt.Errorf("-replica-delay must not be negative, got %s", c.replicaDelay)
	case c.eventDelay < 0:
		return nil, fmt.Errorf("-event-delay must not be negative, got %s", c.eventDelay)
	}
	return c, nil
}

// run parses args, serves until ctx is cancelled and then shuts down
// gracefully. Logs (JSON) go to logOut.
func run(ctx context.Context, args []string, logOut io.Writer) error {
	c, err := parse(args, logOut)
	if err != nil {
		return err
	}
	if c.showVersion {
		fmt.Fprintln(stdout, "kms-emulator", version.Get())
		return nil
	}
	cl := &c.clouds
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	// A companion cloud's change is kept by the AWS emulator's state file, written on its caller's
	// path (and only once that emulator exists: restoring the file changes nothing to keep).
	var saver atomic.Pointer[awsemu.Emulator]
	companions, err := cl.open(log, func() {
		if e := saver.Load(); e != nil {
			_ = e.Save() // called outside the cloud's lock; the AWS emulator's is taken, then the cloud's
		}
	})
	if err != nil {
		return err
	}
	em, err := awsemu.Open(awsemu.Options{Account: c.account, Principals: c.principals, Logger: log,
		ReplicaDelay: c.replicaDelay, EventDelay: c.eventDelay, StateFile: c.stateFile, Companions: companions})
	if err != nil {
		return err
	}
	saver.Store(em)
	if err := cl.identities(); err != nil {
		return err
	}
	stopClouds, err := cl.serve(log)
	if err != nil {
		return err
	}
	defer stopClouds()
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	log.Info("kms emulator listening", "addr", ln.Addr().String(), "account", c.account, "state", c.stateFile)
	return serve(ctx, log, &http.Server{Handler: em, ReadHeaderTimeout: 10 * time.Second}, ln)
}

// serve serves srv on ln until ctx is cancelled, then shuts it down gracefully.
func serve(ctx context.Context, log *slog.Logger, srv *http.Server, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("kms emulator stopped")
	return nil
}
