package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/cmekd/cmekd/internal/version"
)

// localCommands are the rows that need no server.
var localCommands = []command{
	{name: "version", local: true, summary: "print cmekctl's version, commit and build date (also cmekctl --version)",
		help: `Prints the version of this cmekctl, the commit it was built from and when it was built, as
make build stamps them (or as Go recorded them for a plain go build). -o json prints them as an
object with version, commit, date and goversion. Needs no server.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			return func(_ context.Context, e *env, _ []string) error {
				v := version.Get()
				if e.output == "json" {
					return json.NewEncoder(e.stdout).Encode(map[string]string{
						"version": v.Version, "commit": v.Commit, "date": v.Date, "goversion": v.GoVersion})
				}
				_, err := fmt.Fprintln(e.stdout, "cmekctl", v)
				return err
			}
		}},
}
