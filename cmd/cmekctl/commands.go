package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cmekd/cmekd/client"
	"github.com/cmekd/cmekd/internal/version"
)

// command is one row of the table: a new route of the API becomes a new row (and its help).
type command struct {
	name      string   // "orgs create"
	args      []string // positional arguments, e.g. ["ARN"]
	orgScoped bool     // takes --org (default $CMEKD_ORG)
	local     bool     // runs without a server: no CMEKD_URL or CMEKD_TOKEN needed
	summary   string   // one line for cmekctl --help
	help      string   // what it does, for cmekctl NAME --help
	// setup declares the command's flags and returns what runs once they are parsed.
	setup func(fs *flag.FlagSet) func(ctx context.Context, e *env, args []string) error
}

// commands is every command of cmekctl: the organisation's own rows and those that need no server
// here, those of backups, secret scopes and webhooks in backups.go, secrets.go and webhooks.go.
// Routes the server adds later become rows of one of these tables.
var commands = slices.Concat(orgCommands, backupCommands, scopeCommands, webhookCommands, localCommands)

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

// orgCommands are the rows of organisations, tokens, keys, collections, documents and events.
var orgCommands = []command{
	{name: "key-check", args: []string{"KEY"}, summary: "check a key (AWS key ARN, Google Cloud CryptoKey, Azure key URL) and prove the platform can use it",
		help: `Runs every check of the onboarding verification as the platform would (the ARN rules, then
DescribeKey, GenerateDataKey, Decrypt and Encrypt with the platform's principal) and stores nothing.
Prints each check with ✓ or ✗, the denied KMS action and advice, then the key-policy statement to
add. Exits 1 when a check fails.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			region := fs.String("region", "", "the `REGION` the key is to be linked for (default: the ARN's)")
			prov := fs.String("provider", "", "the key's `PROVIDER`: aws (default), gcp or azure")
			return func(ctx context.Context, e *env, args []string) error {
				body := client.KeyCheckRequest{KeyId: &args[0]}
				if *region != "" {
					body.Region = region
				}
				if *prov != "" {
					body.Provider = (*client.Provider)(prov)
				}
				r, err := e.api.CheckKeyWithResponse(ctx, body)
				if err := e.answer(r, err); err != nil {
					return err
				}
				res := r.JSON200
				e.print(res, []string{res.KeyId}, func(tw *tabwriter.Writer) {
					checksTable(tw, res.Checks, res.KeyId)
					tw.Flush()
					if res.Ok {
						fmt.Fprintln(e.stdout, "\nEvery check passed: the platform can use this key.")
						return
					}
					if res.PolicyStatement == nil || slices.ContainsFunc(res.Checks, func(c client.Check) bool { return c.Name == "arn" && !c.Ok }) {
						// No statement can name a key that was not identified: the ARN is fixed first.
						fmt.Fprintln(e.stdout, "\nFix the key ARN as the arn check says, then check again.")
						return
					}
					stmt, _ := json.MarshalIndent(res.PolicyStatement, "", "  ")
					if res.Provider != client.Aws {
						fmt.Fprintf(e.stdout, "\nGrant the platform this access on %s (cmekctl key-policy --provider %s --format cli %s prints the commands), then check again:\n%s\n",
							res.KeyId, res.Provider, res.KeyId, stmt)
						return
					}
					what := "this statement"
					if res.PolicyStatements != nil {
						// Grant mode: the use statement and the data grants statement.
						stmt, _ = json.MarshalIndent(*res.PolicyStatements, "", "  ")
						what = "these statements"
					}
					fmt.Fprintf(e.stdout, "\nAdd %s to the key policy of %s, then check again:\n%s\n", what, res.KeyId, stmt)
				})
				if !res.Ok {
					return errFailed
				}
				return nil
			}
		}},
	{name: "key-policy", args: []string{"ARN"}, summary: "print the key policy the customer must add, as JSON or Terraform",
		help: `Prints the key-policy statement (--template statement) or a whole key policy (--template full)
that lets the platform use the key, as JSON or as an aws_kms_key_policy Terraform resource
(--format terraform, which always holds a whole policy: the owner statement and the use statement).`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			template := fs.String("template", "statement", "`statement` (one statement) or full (a whole key policy)")
			format := fs.String("format", "json", "`json`, terraform or (gcp, azure) cli")
			prov := fs.String("provider", "", "the key's `PROVIDER`: aws (default), gcp or azure")
			var principals multi
			fs.Var(&principals, "principal", "another IAM principal `ARN` to admit (repeatable)")
			return func(ctx context.Context, e *env, args []string) error {
				p := &client.GetKeyPolicyParams{KeyId: &args[0], Format: (*client.GetKeyPolicyParamsFormat)(format)}
				if *prov != "" && *prov != "aws" {
					p.Provider = (*client.Provider)(prov)
				} else {
					p.Template = (*client.GetKeyPolicyParamsTemplate)(template)
				}
				if len(principals) > 0 {
					p.AdditionalPrincipal = (*[]string)(&principals)
				}
				r, err := e.api.GetKeyPolicyWithResponse(ctx, p)
				if err := e.answer(r, err); err != nil {
					return err
				}
				if *format == "terraform" || *format == "cli" {
					_, err := e.stdout.Write(r.Body)
					return err
				}
				return e.raw(r.Body)
			}
		}},

	{name: "orgs", summary: "list organisations (the admin sees all, an organisation's token its own)",
		help: `Lists the organisations this token can see, every page of them.`,
		setup: noFlags(pagedList(func(ctx context.Context, e *env, _ []string, cursor *string, limit *int) (*client.ListOrgsResponse, error) {
			return e.api.ListOrgsWithResponse(ctx, &client.ListOrgsParams{Cursor: cursor, Limit: limit})
		}, func(r *client.ListOrgsResponse) ([]client.Organization, string) {
			return r.JSON200.Orgs, r.JSON200.NextCursor
		},
			func(e *env, all []client.Organization) { e.orgs(client.OrganizationList{Orgs: all}) }))},
	{name: "orgs get", orgScoped: true, summary: "show an organisation and its key link",
		help: `Shows the organisation named by --org (or $CMEKD_ORG): its region, encryption mode, linked key and
the key's health.`,
		setup: noFlags(request(func(ctx context.Context, e *env, _ []string) (*client.GetOrgResponse, error) {
			return e.api.GetOrgWithResponse(ctx, e.org)
		}, func(e *env, r *client.GetOrgResponse) error {
			e.orgs(client.OrganizationList{Orgs: []client.Organization{*r.JSON200}})
			return nil
		}))},
	{name: "orgs create", summary: "create an organisation, linking its key for good (admin)",
		help: `Creates an organisation. With --key-arn its data is encrypted under the customer's own KMS key:
the key is verified first, and a failed check refuses the organisation and prints every check.
The link can never be changed. Without --key-arn, the platform's own key is used. A retry is safe:
the request carries an Idempotency-Key.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			name := fs.String("name", "", "the organisation's `NAME` (required, unique)")
			region := fs.String("region", "", "its `REGION`, e.g. us-west-2 (required)")
			keyARN := fs.String("key-arn", "", "the customer's AWS key `ARN` (customer_managed); empty: provider_managed")
			keyID := fs.String("key-id", "", "the customer's `KEY` of any provider: an AWS key ARN, a Google Cloud CryptoKey name or an Azure key URL")
			prov := fs.String("provider", "", "the key's `PROVIDER`: aws (default), gcp or azure")
			backupARN := fs.String("backup-key-arn", "", "an optional backup key `ARN` of the same region (customer_managed)")
			return func(ctx context.Context, e *env, _ []string) error {
				if *name == "" || *region == "" {
					return errors.New("--name and --region are required")
				}
				body := client.OrganizationCreate{Name: *name, Region: *region}
				if *keyARN != "" || *keyID != "" {
					body.Encryption = &client.OrganizationCreateEncryption{Mode: client.CustomerManaged}
					if *keyARN != "" {
						body.Encryption.KeyArn = keyARN
					}
					if *keyID != "" {
						body.Encryption.KeyId = keyID
					}
					if *prov != "" {
						body.Encryption.Provider = (*client.Provider)(prov)
					}
					if *backupARN != "" {
						body.Encryption.BackupKeyArn = backupARN
					}
				} else if *backupARN != "" {
					return errors.New("--backup-key-arn needs --key-arn or --key-id")
				}
				r, err := e.api.CreateOrgWithResponse(ctx, nil, body)
				if err := e.answer(r, err); err != nil {
					return err
				}
				e.orgs(client.OrganizationList{Orgs: []client.Organization{*r.JSON201}})
				return nil
			}
		}},
	{name: "orgs rename", orgScoped: true, summary: "rename an organisation (owner)",
		help: `Renames the organisation. Its key link cannot change.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			name := fs.String("name", "", "the new `NAME` (required)")
			return func(ctx context.Context, e *env, _ []string) error {
				if *name == "" {
					return errors.New("--name is required")
				}
				r, err := e.api.UpdateOrgWithResponse(ctx, e.org, client.UpdateOrgJSONRequestBody{Name: name})
				if err := e.answer(r, err); err != nil {
					return err
				}
				e.orgs(client.OrganizationList{Orgs: []client.Organization{*r.JSON200}})
				return nil
			}
		}},
	{name: "orgs delete", orgScoped: true, summary: "delete an organisation with its collections, documents and tokens (admin)",
		help: `Deletes the organisation named by --org, with everything it holds. There is no undo.`,
		setup: noFlags(request(func(ctx context.Context, e *env, _ []string) (*client.DeleteOrgResponse, error) {
			return e.api.DeleteOrgWithResponse(ctx, e.org)
		}, func(e *env, r *client.DeleteOrgResponse) error {
			fmt.Fprintf(e.stderr, "deleted %s\n", e.org)
			return nil
		}))},

	{name: "tokens", orgScoped: true, summary: "list the organisation's API tokens (owner)",
		help: `Lists the organisation's live tokens: ids, names and roles, never their secrets.`,
		setup: noFlags(pagedList(func(ctx context.Context, e *env, _ []string, cursor *string, limit *int) (*client.ListTokensResponse, error) {
			return e.api.ListTokensWithResponse(ctx, e.org, &client.ListTokensParams{Cursor: cursor, Limit: limit})
		}, func(r *client.ListTokensResponse) ([]client.Token, string) {
			return r.JSON200.Tokens, r.JSON200.NextCursor
		},
			func(e *env, all []client.Token) {
				list(e, client.TokenList{Tokens: all}, all, "ID\tNAME\tROLE\tCREATED", func(t client.Token) (string, []any) {
					return t.Id, []any{t.Id, t.Name, t.Role, stamp(t.CreatedAt)}
				})
			}))},
	{name: "tokens create", orgScoped: true, summary: "create an API token for the organisation (owner)",
		help: `Creates a token with a role (owner, operator or member, or workspace with --workspace NAME: a
token that reads only the secrets its workspace was granted) and prints its secret: this is the only
time it is shown. -o id prints the secret alone, for export CMEKD_TOKEN=$(...).`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			name := fs.String("name", "", "what the token is for (`NAME`, required)")
			role := fs.String("role", "member", "its `ROLE`: owner, operator, member or workspace")
			workspace := fs.String("workspace", "", "the `WORKSPACE` of a token with --role workspace")
			return func(ctx context.Context, e *env, _ []string) error {
				if *name == "" {
					return errors.New("--name is required")
				}
				body := client.CreateTokenJSONRequestBody{Name: *name, Role: client.TokenRole(*role)}
				if *workspace != "" {
					body.Workspace = workspace
				}
				r, err := e.api.CreateTokenWithResponse(ctx, e.org, body)
				if err := e.answer(r, err); err != nil {
					return err
				}
				t := r.JSON201
				e.print(t, []string{t.Token}, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tNAME\tROLE\tTOKEN (shown once)")
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Id, t.Name, t.Role, t.Token)
				})
				return nil
			}
		}},
	{name: "tokens revoke", args: []string{"TOKEN_ID"}, orgScoped: true, summary: "revoke a token (owner)",
		help: `Revokes the token with id TOKEN_ID (tok_…); requests with its secret fail from then on.`,
		setup: noFlags(func(ctx context.Context, e *env, args []string) error {
			r, err := e.api.RevokeTokenWithResponse(ctx, e.org, args[0])
			if err := e.answer(r, err); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "revoked %s\n", args[0])
			return nil
		})},

	{name: "key-status", orgScoped: true, summary: "show the health of the organisation's key per region; --watch follows it",
		help: `Shows the linked key's health in each region: healthy, unavailable or unknown, when it was last
probed and last usable, and the last error. With --watch it asks again every --interval and prints
the table again whenever something changed, until interrupted.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			watch := fs.Bool("watch", false, "keep watching; print again on every change")
			interval := fs.Duration("interval", 5*time.Second, "how often --watch asks (at least 1s)")
			return func(ctx context.Context, e *env, _ []string) error {
				last := ""
				return poll(ctx, e.stderr, *watch, *interval, func() error {
					r, err := e.api.GetKeyStatusWithResponse(ctx, e.org)
					if err := e.answer(r, err); err != nil {
						return err
					}
					if now := string(r.Body); now != last {
						last = now
						e.keyStatus(r.JSON200)
					}
					return nil
				})
			}
		}},
	{name: "probe", orgScoped: true, summary: "probe the organisation's key now and apply the result (operator)",
		help: `Probes the linked key now, e.g. after the customer fixed the key policy or re-enabled the key, and
applies the outcome at once: halted collections resume when the key is healthy, active ones halt
when it is not. Prints the key status.`,
		setup: noFlags(request(func(ctx context.Context, e *env, _ []string) (*client.ProbeKeyResponse, error) {
			return e.api.ProbeKeyWithResponse(ctx, e.org)
		}, func(e *env, r *client.ProbeKeyResponse) error {
			e.keyStatus(r.JSON200)
			return nil
		}))},

	{name: "collections", orgScoped: true, summary: "list the organisation's collections and their states",
		help: `Lists the organisation's collections: their states (active, ingest_halted, paused), why and since
when.`,
		setup: noFlags(pagedList(func(ctx context.Context, e *env, _ []string, cursor *string, limit *int) (*client.ListCollectionsResponse, error) {
			return e.api.ListCollectionsWithResponse(ctx, e.org, &client.ListCollectionsParams{Cursor: cursor, Limit: limit})
		}, func(r *client.ListCollectionsResponse) ([]client.Collection, string) {
			return r.JSON200.Collections, r.JSON200.NextCursor
		},
			func(e *env, all []client.Collection) { e.collections(client.CollectionList{Collections: all}) }))},
	{name: "collections get", args: []string{"COLLECTION_ID"}, orgScoped: true, summary: "show one collection",
		help:  `Shows the collection COLLECTION_ID (col_…).`,
		setup: collectionAction("get")},
	{name: "regions", orgScoped: true, summary: "list the regions the organisation uses, home first",
		help: `Lists the organisation's regions with their data and backup keys and the data key's health.`,
		setup: noFlags(request(func(ctx context.Context, e *env, _ []string) (*client.ListRegionsResponse, error) {
			return e.api.ListRegionsWithResponse(ctx, e.org)
		}, func(e *env, r *client.ListRegionsResponse) error {
			e.regions(*r.JSON200)
			return nil
		}))},
	{name: "regions add", orgScoped: true, summary: "start using another region, linking its key for good (operator)",
		help: `Links a region to the organisation. Without --key-arn the replica of the multi-region home key is
used (same mrk- id, the new region); if it does not exist yet, the failed check prints the
aws kms replicate-key command that creates it. The key is verified before anything is stored.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			region := fs.String("region", "", "the `REGION` to add (required)")
			keyARN := fs.String("key-arn", "", "the region's data key `ARN`; empty: the home key's replica")
			backupARN := fs.String("backup-key-arn", "", "an optional backup key `ARN` of the region")
			return func(ctx context.Context, e *env, _ []string) error {
				if *region == "" {
					return errors.New("--region is required")
				}
				body := client.RegionCreate{Region: *region}
				if *keyARN != "" {
					body.KeyArn = keyARN
				}
				if *backupARN != "" {
					body.BackupKeyArn = backupARN
				}
				r, err := e.api.AddRegionWithResponse(ctx, e.org, body)
				if err := e.answer(r, err); err != nil {
					return err
				}
				e.regions(client.OrgRegionList{Regions: []client.OrgRegion{*r.JSON201}})
				return nil
			}
		}},

	{name: "grants", orgScoped: true, summary: "list the KMS grants cmekd holds on the organisation's keys (grant mode)",
		help: `Lists the grants cmekd attached to the organisation's keys for its data identity (with
CMEKD_DATA_PRINCIPAL set): grant id, name, key, region, purpose, operations and status. The key's
owner revokes one with aws kms revoke-grant --key-id <key ARN> --grant-id <grant id>.`,
		setup: noFlags(request(func(ctx context.Context, e *env, _ []string) (*client.ListGrantsResponse, error) {
			return e.api.ListGrantsWithResponse(ctx, e.org)
		}, func(e *env, r *client.ListGrantsResponse) error {
			e.grants(*r.JSON200)
			return nil
		}))},
	{name: "grants renew", orgScoped: true, summary: "attach new grants where the customer revoked them, then probe (operator)",
		help: `Re-verifies each key whose grant is gone with a new grant and probes; the region's collections
come back as the key is healthy again. cmekd never does this by itself: renewing is the customer's act.`,
		setup: noFlags(request(func(ctx context.Context, e *env, _ []string) (*client.RenewGrantsResponse, error) {
			return e.api.RenewGrantsWithResponse(ctx, e.org)
		}, func(e *env, r *client.RenewGrantsResponse) error {
			e.grants(*r.JSON200)
			return nil
		}))},

	{name: "collections create", orgScoped: true, summary: "create a collection (operator)",
		help: `Creates a collection in one of the organisation's regions (--region; its home by default).
--unrecoverable makes a collection that, once paused by a lost key, can never be resumed.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			name := fs.String("name", "", "the collection's `NAME` (required)")
			region := fs.String("region", "", "the `REGION` it lives in (default: the organisation's home)")
			unrecoverable := fs.Bool("unrecoverable", false, "refuse to resume it once paused")
			return func(ctx context.Context, e *env, _ []string) error {
				if *name == "" {
					return errors.New("--name is required")
				}
				body := client.CollectionCreate{Name: *name}
				if *region != "" {
					body.Region = region
				}
				if *unrecoverable {
					body.Recoverable = ptr(false)
				}
				r, err := e.api.CreateCollectionWithResponse(ctx, e.org, body)
				if err := e.answer(r, err); err != nil {
					return err
				}
				e.collections(client.CollectionList{Collections: []client.Collection{*r.JSON201}})
				return nil
			}
		}},
	{name: "collections resume", args: []string{"COLLECTION_ID"}, orgScoped: true, summary: "resume a paused collection once its key is healthy (operator)",
		help: `Re-verifies the key now and returns the paused collection COLLECTION_ID to active. Refused while
the key still fails, or when the collection is not recoverable.`,
		setup: collectionAction("resume")},
	{name: "collections delete", args: []string{"COLLECTION_ID"}, orgScoped: true, summary: "delete a collection and its documents (operator)",
		help:  `Deletes the collection COLLECTION_ID with its documents. There is no undo.`,
		setup: collectionAction("delete")},

	{name: "documents", args: []string{"COLLECTION_ID"}, orgScoped: true, summary: "list a collection's documents, decrypted",
		help: `Lists one page of the collection's documents (decrypted under the organisation's key), newest
page first; --cursor takes the next page, whose cursor is printed on stderr.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			limit := fs.Int("limit", 50, "documents per page (1 to 500)")
			cursor := fs.String("cursor", "", "the `CURSOR` of the next page")
			return func(ctx context.Context, e *env, args []string) error {
				p := &client.ListDocumentsParams{Limit: limit}
				if *cursor != "" {
					p.Cursor = cursor
				}
				r, err := e.api.ListDocumentsWithResponse(ctx, e.org, args[0], p)
				if err := e.answer(r, err); err != nil {
					return err
				}
				l := r.JSON200
				ids := make([]string, len(l.Documents))
				for i, d := range l.Documents {
					ids[i] = d.Id
				}
				// The data as sent: decoded into the client's maps, numbers and key order would change.
				var page struct {
					Documents []struct {
						Data json.RawMessage `json:"data"`
					} `json:"documents"`
				}
				if err := json.Unmarshal(r.Body, &page); err != nil || len(page.Documents) != len(l.Documents) {
					return fmt.Errorf("the server answered something that is not a page of documents: %v", err)
				}
				e.print(l, ids, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID\tCREATED\tDATA")
					for i, d := range l.Documents {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Id, stamp(d.CreatedAt), page.Documents[i].Data)
					}
				})
				if l.NextCursor != "" {
					fmt.Fprintf(e.stderr, "more: --cursor %s\n", l.NextCursor)
				}
				return nil
			}
		}},
	{name: "documents ingest", args: []string{"COLLECTION_ID"}, orgScoped: true, summary: "ingest JSON documents from a file or stdin (operator)",
		help: `Ingests documents into the collection: -f FILE (or stdin when -f is - or absent) holds one JSON
object per line, or one JSON array of objects. All are stored or none. A retry is safe: the
request carries an Idempotency-Key.`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			file := fs.String("f", "-", "the `FILE` of documents; - is stdin")
			return func(ctx context.Context, e *env, args []string) error {
				docs, err := readDocuments(*file, e.stdin)
				if err != nil {
					return err
				}
				body, err := json.Marshal(struct {
					Documents []json.RawMessage `json:"documents"`
				}{docs}) // RawMessage is copied as written (compacted): numbers and key order kept
				if err != nil {
					return err
				}
				r, err := e.api.IngestDocumentsWithBodyWithResponse(ctx, e.org, args[0], nil, "application/json", bytes.NewReader(body))
				if err := e.answer(r, err); err != nil {
					return err
				}
				e.print(r.JSON201, r.JSON201.Ids, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, "ID")
					for _, id := range r.JSON201.Ids {
						fmt.Fprintln(tw, id)
					}
				})
				return nil
			}
		}},
	{name: "documents get", args: []string{"COLLECTION_ID", "DOCUMENT_ID"}, orgScoped: true, summary: "print one document, decrypted",
		help: `Prints the document DOCUMENT_ID (doc_…) of the collection as JSON: its data as it was ingested.`,
		setup: noFlags(request(func(ctx context.Context, e *env, args []string) (*client.GetDocumentResponse, error) {
			return e.api.GetDocumentWithResponse(ctx, e.org, args[0], args[1])
		}, func(e *env, r *client.GetDocumentResponse) error {
			if e.output == "id" {
				fmt.Fprintln(e.stdout, r.JSON200.Id)
				return nil
			}
			return e.raw(r.Body)
		}))},

	{name: "events", orgScoped: true, summary: "show the organisation's audit trail; --follow streams new events",
		help: `Shows the organisation's events, newest first: key verification and health, collection state
changes, tokens. With --follow it prints the latest events oldest first, then every new one as it
appears, asking every --interval until interrupted (-o json: one JSON object per line).`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			typ := fs.String("type", "", "only events of this `TYPE`, e.g. collection.ingest_halted")
			limit := fs.Int("limit", 50, "how many of the latest events (1 to 500)")
			follow := fs.Bool("follow", false, "keep printing new events")
			interval := fs.Duration("interval", 5*time.Second, "how often --follow asks (at least 1s)")
			return func(ctx context.Context, e *env, _ []string) error {
				p := &client.ListEventsParams{Limit: limit}
				if *typ != "" {
					p.Type = (*client.EventType)(typ)
				}
				if !*follow {
					r, err := e.api.ListEventsWithResponse(ctx, e.org, p)
					if err := e.answer(r, err); err != nil {
						return err
					}
					e.events(r.JSON200.Events, true)
					return nil
				}
				seen := map[string]bool{}
				header := true
				return poll(ctx, e.stderr, true, *interval, func() error {
					r, err := e.api.ListEventsWithResponse(ctx, e.org, p)
					if err := e.answer(r, err); err != nil {
						return err
					}
					var fresh []client.Event
					for _, ev := range slices.Backward(r.JSON200.Events) {
						if !seen[ev.Id] {
							seen[ev.Id] = true
							fresh = append(fresh, ev)
						}
					}
					e.events(fresh, header)
					header = false
					return nil
				})
			}
		}},
}

// collectionAction is the command that gets, resumes or deletes the collection of its argument.
func collectionAction(action string) func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
	return noFlags(func(ctx context.Context, e *env, args []string) error {
		var (
			col  *client.Collection
			hr   *http.Response
			body []byte
			err  error
		)
		switch action {
		case "get":
			var r *client.GetCollectionResponse
			if r, err = e.api.GetCollectionWithResponse(ctx, e.org, args[0]); err == nil {
				col, hr, body = r.JSON200, r.HTTPResponse, r.Body
			}
		case "resume":
			var r *client.ResumeCollectionResponse
			if r, err = e.api.ResumeCollectionWithResponse(ctx, e.org, args[0]); err == nil {
				col, hr, body = r.JSON200, r.HTTPResponse, r.Body
			}
		case "delete":
			var r *client.DeleteCollectionResponse
			if r, err = e.api.DeleteCollectionWithResponse(ctx, e.org, args[0]); err == nil {
				hr, body = r.HTTPResponse, r.Body
			}
		}
		if err != nil {
			return err
		}
		if err := client.CheckResponse(hr, body); err != nil {
			return err
		}
		if col == nil {
			fmt.Fprintf(e.stderr, "deleted %s\n", args[0])
			return nil
		}
		e.collections(client.CollectionList{Collections: []client.Collection{*col}})
		return nil
	})
}

// noFlags is setup for a command without flags of its own.
func noFlags(fn func(context.Context, *env, []string) error) func(*flag.FlagSet) func(context.Context, *env, []string) error {
	return func(*flag.FlagSet) func(context.Context, *env, []string) error { return fn }
}

// body is the answer's body, or the error it was.
func body[R interface{ StatusCode() int }](r R, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	v := reflect.ValueOf(r).Elem()
	b := v.FieldByName("Body").Bytes()
	return b, client.CheckResponse(v.FieldByName("HTTPResponse").Interface().(*http.Response), b)
}

// request is the run of a command that asks cmekd one thing: call asks, and show prints the answer
// once cmekd accepted it.
func request[R interface{ StatusCode() int }](call func(ctx context.Context, e *env, args []string) (R, error),
	show func(e *env, r R) error) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		r, err := call(ctx, e, args)
		if err := e.answer(r, err); err != nil {
			return err
		}
		return show(e, r)
	}
}

// pagedList is the run of a list command: call asks for the page at cursor (nil: the first) of at
// most limit items, page takes the items and the next cursor from its answer, and show prints the
// items of every page.
func pagedList[R interface{ StatusCode() int }, T any](call func(ctx context.Context, e *env, args []string, cursor *string, limit *int) (R, error),
	page func(R) ([]T, string), show func(*env, []T)) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		all, err := collect(func(cursor *string) ([]T, string, error) {
			r, err := call(ctx, e, args, cursor, ptr(500))
			if err := e.answer(r, err); err != nil {
				return nil, "", err
			}
			items, next := page(r)
			return items, next, nil
		})
		if err != nil {
			return err
		}
		show(e, all)
		return nil
	}
}

// collect calls page with each cursor until the last page and returns the items of them all.
func collect[T any](page func(cursor *string) (items []T, next string, err error)) ([]T, error) {
	var all []T
	var cursor *string
	for {
		items, next, err := page(cursor)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		cursor = &next
	}
}

// poll runs fn once, and with repeat every interval (at least a second) until ctx ends. A failed
// call while watching is reported and tried again at the next tick: a watch outlives a blip.
func poll(ctx context.Context, stderr io.Writer, repeat bool, interval time.Duration, fn func() error) error {
	err := fn()
	if !repeat {
		return err
	}
	if err != nil {
		return err // a wrong token or organisation will not heal by itself
	}
	t := time.NewTicker(max(interval, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := fn(); err != nil && ctx.Err() == nil {
			fmt.Fprintf(stderr, "cmekctl: %v (trying again)\n", err)
		}
	}
}

// readDocuments reads JSON objects from file ("-": r), as one array or one object per line, and
// returns them as they were written: never decoded into maps, which would round big numbers and
// reorder keys.
func readDocuments(file string, r io.Reader) ([]json.RawMessage, error) {
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var docs []json.RawMessage
	if trimmed := bytes.TrimSpace(b); bytes.HasPrefix(trimmed, []byte("[")) {
		if err := json.Unmarshal(trimmed, &docs); err != nil {
			return nil, fmt.Errorf("documents: %w", err)
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(b))
		for {
			var d json.RawMessage
			if err := dec.Decode(&d); err == io.EOF {
				break
			} else if err != nil {
				return nil, fmt.Errorf("documents: document %d: %w", len(docs)+1, err)
			}
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, errors.New("documents: no document given")
	}
	for i, d := range docs {
		if !bytes.HasPrefix(bytes.TrimSpace(d), []byte("{")) {
			return nil, fmt.Errorf("documents: document %d is not a JSON object", i+1)
		}
	}
	return docs, nil
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func ptr[T any](v T) *T { return &v }
