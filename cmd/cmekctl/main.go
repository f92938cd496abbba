// Command cmekctl drives cmekd from a terminal or a script, over the Go client in client/.
// It reads CMEKD_URL and CMEKD_TOKEN from the environment (a token never goes on the command line,
// where shell history and ps would keep it). Its commands are the table in commands.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/cmekd/cmekd/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the API refused, or a key check failed
	exitUsage  = 2
)

// errFailed ends a command with exit 1 after it has said why on its own (a failed key check).
var errFailed = errors.New("failed")

// env is what every command gets: the client, the output format and where to write.
type env struct {
	api    *client.ClientWithResponses
	output string // table, json or id
	org    string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// answers counts the API's answers; sent is the last one's body, which -o json prints as sent
	// when it was the only one.
	answers int
	sent    []byte
}

// answer checks an API answer and keeps its body for -o json.
func (e *env) answer(r interface{ StatusCode() int }, err error) error {
	b, err := body(r, err)
	if err == nil {
		e.answers++
		e.sent = b
	}
	return err
}

// run is cmekctl with its process around it injected, so tests and main share it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		if len(args) > 1 { // cmekctl help orgs create
			return run(ctx, append(args[1:], "--help"), stdin, stdout, stderr, getenv)
		}
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	cmd, rest := lookup(args)
	if cmd == nil {
		fmt.Fprintf(stderr, "cmekctl: unknown command %q; see cmekctl --help\n", strings.Join(args, " "))
		return exitUsage
	}
	fs := flag.NewFlagSet("cmekctl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	fs.StringVar(&e.output, "o", "table", "output: `table` for people, json for scripts, id for the id(s) alone")
	if cmd.orgScoped {
		fs.StringVar(&e.org, "org", getenv("CMEKD_ORG"), "the organisation `ID` (default $CMEKD_ORG)")
	}
	runCmd := cmd.setup(fs)
	fs.Usage = func() {} // flag's own complaint is enough; --help is answered below, on stdout
	positional, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		commandHelp(stdout, cmd, fs)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "see cmekctl %s --help\n", cmd.name)
		return exitUsage
	}
	if msg := e.connect(cmd, positional, getenv); msg != "" {
		fmt.Fprintln(stderr, msg)
		return exitUsage
	}
	if err := runCmd(ctx, e, positional); err != nil {
		if !errors.Is(err, errFailed) {
			e.failure(ctx, cmd.name, err, args)
		}
		return exitFailed
	}
	return exitOK
}

// connect checks what cmd was given (its arguments, the output, the organisation, the server and
// the token) and opens e's API client. A message is a usage error, for stderr.
func (e *env) connect(cmd *command, positional []string, getenv func(string) string) string {
	if len(positional) != len(cmd.args) {
		return fmt.Sprintf("cmekctl %s: want %s; see cmekctl %s --help", cmd.name, argsText(cmd), cmd.name)
	}
	switch e.output {
	case "table", "json", "id":
	default:
		return fmt.Sprintf("cmekctl: -o %q: want table, json or id", e.output)
	}
	if cmd.orgScoped && e.org == "" {
		return fmt.Sprintf("cmekctl %s: which organisation? pass --org ID or export CMEKD_ORG", cmd.name)
	}
	if cmd.local {
		return "" // answered without the server
	}
	base := getenv("CMEKD_URL")
	if base == "" {
		return "cmekctl: set CMEKD_URL to the server, e.g. export CMEKD_URL=http://127.0.0.1:8080"
	}
	token := getenv("CMEKD_TOKEN")
	if token == "" {
		return "cmekctl: set CMEKD_TOKEN to your API token (dev mode prints one)"
	}
	var err error
	if e.api, err = client.New(base, token, client.Options{UserAgent: "cmekctl"}); err != nil {
		return "cmekctl: " + err.Error()
	}
	return ""
}

// parseInterspersed parses flags before, between and after positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// lookup finds the longest command name that args start with ("orgs create" before "orgs").
func lookup(args []string) (*command, []string) {
	if len(args) > 1 {
		if c := find(args[0] + " " + args[1]); c != nil {
			return c, args[2:]
		}
	}
	if c := find(args[0]); c != nil {
		if len(args) > 1 && args[1] == "list" && lists(c) { // cmekctl orgs list: the same as cmekctl orgs
			return c, args[2:]
		}
		return c, args[1:]
	}
	return nil, nil
}

// lists reports whether c is a bare noun that lists (orgs, collections, documents, …), which
// cmekctl NOUN list names too.
func lists(c *command) bool {
	return !strings.Contains(c.name, " ") && strings.HasPrefix(c.summary, "list ")
}

func find(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func argsText(c *command) string {
	if len(c.args) == 0 {
		return "no arguments"
	}
	return strings.Join(c.args, " ")
}

func usage(w io.Writer) {
	fmt.Fprint(w, `cmekctl drives cmekd, the control plane of customer-managed KMS keys.

Usage:
  cmekctl COMMAND [ARGS] [FLAGS]
  cmekctl COMMAND --help     what a command does, its arguments and flags

Environment:
  CMEKD_URL     the server, e.g. http://127.0.0.1:8080 (make run prints what to export)
  CMEKD_TOKEN   your API token: the admin token or an organisation's token
  CMEKD_ORG     the organisation that organisation commands act on (or --org ID)

Every command takes -o table (default, for people), -o json (the API's own JSON, for scripts) or
-o id (only the id(s) of what it shows or makes). Where a bare noun lists (cmekctl orgs),
cmekctl NOUN list does the same. Exit status: 0 done, 1 refused or a key check
failed (the reason is on stderr), 2 usage error.

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	names := make([]string, 0, len(commands))
	for _, c := range commands {
		names = append(names, c.name)
	}
	sort.Strings(names)
	for _, n := range names {
		c := find(n)
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, strings.Join(c.args, " "), c.summary)
	}
	tw.Flush()
}

func commandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: cmekctl %s", c.name)
	if len(c.args) > 0 {
		fmt.Fprintf(w, " %s", strings.Join(c.args, " "))
	}
	fmt.Fprintf(w, " [FLAGS]\n\n%s%s.\n\n%s\n\nFlags:\n", strings.ToUpper(c.summary[:1]), c.summary[1:], strings.TrimSpace(c.help))
	fs.PrintDefaults()
}
