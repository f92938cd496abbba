package main

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/cmekd/cmekd/client"
)

// routeAdvice turns the API routes that the server's advice names (it speaks to every client) into
// the cmekctl commands that call them, so what cmekctl prints can be typed as it stands.
var routeAdvice = []struct {
	route *regexp.Regexp
	cmd   string
}{
	{regexp.MustCompile(`GET /v1/key-policy\?key_arn=([^\s)]+)`), "cmekctl key-policy $1"},
	{regexp.MustCompile(`GET /v1/key-policy`), "cmekctl key-policy KEY"},
	{regexp.MustCompile(`POST /v1/orgs/\{org\}/grants/renew`), "cmekctl grants renew"},
	{regexp.MustCompile(`POST /v1/orgs/\{org\}/regions`), "cmekctl regions add --region REGION"},
	{regexp.MustCompile(`POST …/resume`), "cmekctl collections resume COLLECTION_ID"},
}

// advise rewrites the routes a server message names as cmekctl commands; key, when known, stands
// for KEY.
func advise(msg, key string) string {
	for _, r := range routeAdvice {
		msg = r.route.ReplaceAllString(msg, r.cmd)
	}
	if key != "" {
		msg = strings.ReplaceAll(msg, "cmekctl key-policy KEY", "cmekctl key-policy "+key)
	}
	return msg
}

// hint is what to do next after err, beyond the server's message: "" when there is nothing to add.
// A refused region whose replica is not there yet is retried as typed; a key refused for
// access_denied in an organisation that holds grants was most likely revoked by its owner.
func (e *env) hint(ctx context.Context, name string, err error, typed []string) string {
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		return ""
	}
	d := apiErr.Body.Error.Details
	switch {
	case name == "regions add" && d.Checks != nil && slices.ContainsFunc(*d.Checks, replicaNotThere):
		return "If you have just run aws kms replicate-key, the replica is still being created (a minute or so " +
			"on AWS); wait, then retry:\n  cmekctl " + shellJoin(typed)
	case apiErr.Code() == client.ErrorCodeKeyUnavailable && d.Reason != nil && *d.Reason == "access_denied" && e.org != "" && e.api != nil:
		r, err := e.api.ListGrantsWithResponse(ctx, e.org)
		if err != nil || r.JSON200 == nil || len(r.JSON200.Grants) == 0 {
			return "The key's policy no longer lets the platform use it: cmekctl key-check KEY shows what to add."
		}
		return "The key's owner revoked cmekd's grant on it. When they want the platform back, renew it:\n  cmekctl grants renew --org " + e.org
	}
	return ""
}

// replicaNotThere reports a check that failed because the region's replica does not exist, or exists
// but is still being created.
func replicaNotThere(c client.Check) bool {
	if c.Ok || c.Code == nil {
		return false
	}
	msg := ""
	if c.Message != nil {
		msg = *c.Message
	}
	return (*c.Code == "key_not_found" && strings.Contains(msg, "replicate-key")) || strings.Contains(msg, "Creating")
}

// shellJoin quotes args for a POSIX shell where they need it.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsFunc(a, func(r rune) bool { return !strings.ContainsRune(safeShell, r) }) {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

const safeShell = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%"
