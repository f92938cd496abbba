// Command server runs cmekd: the control plane for customer-managed KMS keys.
//
// Usage: cmekd [-h] [-version]. All configuration comes from CMEKD_* environment variables; -h lists
// them with their defaults.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cmekd/cmekd/internal/api"
	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/server"
	"github.com/cmekd/cmekd/internal/version"
)

func main() {
	// SIGHUP too: a developer closing the terminal of `make run` stops dev mode's PostgreSQL cluster
	// with the server.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	os.Exit(cli(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// cli parses the flags and runs the server; it returns the exit code.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cmekd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	showVersion := fs.Bool("version", false, "print the version, commit and build date, and exit")
	fs.Usage = func() { usage(stdout) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "cmekd", version.Get())
		return 0
	}
	if err := run(ctx); err != nil {
		fmt.Fprintln(stderr, "cmekd:", err)
		return 1
	}
	return 0
}

// usage prints what cmekd is, its flags, and every variable it reads with its default.
func usage(w io.Writer) {
	fmt.Fprint(w, `cmekd — the control plane for customer-managed AWS KMS keys.

Usage: cmekd [-h] [-version]

Flags:
  -h        print this help
  -version  print the version, commit and build date, and exit

Configuration comes from these environment variables (docs/configuration.md says what each means):
`)
	for _, v := range config.Describe() {
		def := v.Default
		if def == "" {
			def = "(none)"
		}
		fmt.Fprintf(w, "  %-26s default %s\n", v.Name, def)
	}
}

func run(ctx context.Context) error {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(log)
	for _, name := range config.Unknown(nil) {
		log.Warn("unknown configuration variable: cmekd does not read it (misspelt?); cmekd -h lists the variables", "variable", name)
	}
	cfg, err := config.Load(nil)
	if err != nil {
		return err
	}
	// The process's memory is bounded with the request bodies it holds (GOMEMLIMIT overrides).
	api.LimitMemory(cfg.MaxInflightBytes)
	srv, err := server.New(ctx, cfg, server.Options{Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	return srv.Run(ctx)
}
