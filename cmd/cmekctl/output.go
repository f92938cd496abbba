package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/cmekd/cmekd/client"
)

// print writes v as -o asks: JSON, the ids alone, or the table that table draws. JSON is the API's
// answer as sent when one answer made v (no number or key order changed), else v encoded.
func (e *env) print(v any, ids []string, table func(tw *tabwriter.Writer)) {
	switch e.output {
	case "json":
		if e.answers == 1 && e.sent != nil {
			e.stdout.Write(e.sent)
			if !bytes.HasSuffix(e.sent, []byte("\n")) {
				fmt.Fprintln(e.stdout)
			}
			return
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintf(e.stdout, "%s\n", b)
	case "id":
		for _, id := range ids {
			fmt.Fprintln(e.stdout, id)
		}
	default:
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		table(tw)
		tw.Flush()
	}
}

// raw writes a JSON answer as the server sent it: exactly with -o json, else indented (whitespace
// alone changes).
func (e *env) raw(body []byte) error {
	if e.output == "json" {
		e.stdout.Write(body)
		if !bytes.HasSuffix(body, []byte("\n")) {
			fmt.Fprintln(e.stdout)
		}
		return nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		return fmt.Errorf("the server answered something that is not JSON: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s\n", buf.Bytes())
	return nil
}

// list prints v, the answer whose items are items, as -o asks (print): row gives each item's id
// and its cells under head (no header line when head is "").
func list[T any](e *env, v any, items []T, head string, row func(T) (id string, cells []any)) {
	ids := make([]string, len(items))
	for i, x := range items {
		ids[i], _ = row(x)
	}
	e.print(v, ids, func(tw *tabwriter.Writer) {
		if head != "" {
			fmt.Fprintln(tw, head)
		}
		for _, x := range items {
			_, cells := row(x)
			for i, c := range cells {
				if i > 0 {
					fmt.Fprint(tw, "\t")
				}
				fmt.Fprint(tw, c)
			}
			fmt.Fprintln(tw)
		}
	})
}

func (e *env) orgs(l client.OrganizationList) {
	list(e, l, l.Orgs, "ID\tNAME\tREGION\tMODE\tKEY\tKEY ID\tPROVIDER", func(o client.Organization) (string, []any) {
		return o.Id, []any{o.Id, o.Name, o.Region, o.Encryption.Mode, o.Encryption.Status, dashp(o.Encryption.KeyId), o.Encryption.Provider}
	})
}

func (e *env) collections(l client.CollectionList) {
	list(e, l, l.Collections, "ID\tNAME\tREGION\tSTATE\tREASON\tSINCE\tRECOVERABLE", func(c client.Collection) (string, []any) {
		return c.Id, []any{c.Id, c.Name, c.Region, c.State, dash(c.StateReason), stamp(c.StateChangedAt), c.Recoverable}
	})
}

func (e *env) regions(l client.OrgRegionList) {
	list(e, l, l.Regions, "REGION\tHOME\tKEY\tKEY ID\tBACKUP KEY ID\tSINCE", func(r client.OrgRegion) (string, []any) {
		return r.Region, []any{r.Region, r.Home, r.Status, dash(r.KeyId), dash(r.BackupKeyId), stamp(r.CreatedAt)}
	})
}

func (e *env) grants(l client.GrantList) {
	list(e, l, l.Grants, "GRANT ID\tNAME\tREGION\tPURPOSE\tSTATUS\tCREATED\tKEY ARN", func(g client.Grant) (string, []any) {
		return g.GrantId, []any{g.GrantId, g.Name, g.Region, g.Purpose, g.Status, stamp(g.CreatedAt), g.KeyArn}
	})
}

func (e *env) keyStatus(s *client.KeyStatus) {
	head := "REGION\tPURPOSE\tSTATUS\tLAST PROBE\tLAST OK\tUNAVAILABLE SINCE\tLAST ERROR\tKEY ARN"
	list(e, s, s.Regions, head, func(r client.RegionKeyStatus) (string, []any) {
		// The platform's key (a provider_managed organisation's) shows no ARN: its id is its region.
		id := r.Region
		if r.KeyArn != nil {
			id = *r.KeyArn
		}
		lastErr := "-"
		if r.LastError != nil {
			lastErr = r.LastError.Code
			if r.LastError.Action != nil {
				lastErr += " (" + *r.LastError.Action + ")"
			}
		}
		return id, []any{r.Region, r.Purpose, r.Status, nstamp(r.LastProbeAt), nstamp(r.LastOkAt), nstamp(r.UnavailableSince), lastErr, dashp(r.KeyArn)}
	})
}

// events prints events in the order given; in table form with a header when header is set.
func (e *env) events(evs []client.Event, header bool) {
	if e.output == "json" {
		for _, ev := range evs {
			b, _ := json.Marshal(ev)
			fmt.Fprintf(e.stdout, "%s\n", b)
		}
		return
	}
	head := ""
	if header {
		head = "AT\tTYPE\tREGION\tCOLLECTION\tFROM\tTO\tREASON\tACTOR"
	}
	list(e, nil, evs, head, func(ev client.Event) (string, []any) {
		return ev.Id, []any{stamp(ev.At), ev.Type, dash(ev.Region), dash(ev.CollectionId), dash(ev.FromState), dash(ev.ToState), dash(ev.Reason), dash(ev.Actor)}
	})
}

// checksTable draws verification checks with ✓ and ✗, their advice naming cmekctl commands (key,
// when known, in them).
func checksTable(tw *tabwriter.Writer, checks []client.Check, key string) {
	fmt.Fprintln(tw, "\tCHECK\tCODE\tACTION\tADVICE")
	for _, c := range checks {
		mark := "✓"
		if !c.Ok {
			mark = "✗"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", mark, c.Name, dashp(c.Code), dashp(c.Action), advise(dashp(c.Message), key))
	}
}

// failure explains an error with what to do next; a refused verification also shows its checks.
// typed is the command line as given, for the advice to retry it.
func (e *env) failure(ctx context.Context, name string, err error, typed []string) {
	fmt.Fprintf(e.stderr, "cmekctl %s: %s\n", name, advise(err.Error(), ""))
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && apiErr.Body.Error.Details.Checks != nil {
		tw := tabwriter.NewWriter(e.stderr, 0, 0, 2, ' ', 0)
		checksTable(tw, *apiErr.Body.Error.Details.Checks, "")
		tw.Flush()
		if h := e.hint(ctx, name, apiErr, typed); h != "" {
			fmt.Fprintf(e.stderr, "\n%s\n", h)
		} else {
			fmt.Fprintln(e.stderr, "\ncmekctl key-check KEY prints the key-policy statement to add.")
		}
		return
	}
	if h := e.hint(ctx, name, err, typed); h != "" {
		fmt.Fprintf(e.stderr, "%s\n", h)
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func nstamp(t *client.NullableTimestamp) string {
	if t == nil {
		return "-"
	}
	return stamp(*t)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dashp(s *string) string {
	if s == nil {
		return "-"
	}
	return dash(*s)
}
