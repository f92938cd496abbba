// Package config loads cmekd's configuration from the environment once at start.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
)

// MaxDEKCacheTTL is the longest a plaintext data key may stay in memory.
const MaxDEKCacheTTL = 5 * time.Minute

// MinInflightBytes is the least CMEKD_MAX_INFLIGHT_BYTES may be: room for the largest request body.
const MinInflightBytes = 8 << 20

// Config is every setting of the server.
type Config struct {
	Addr              string        `env:"CMEKD_ADDR" envDefault:":8080"`
	DatabaseURL       string        `env:"CMEKD_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/cmekd?sslmode=disable"`
	AdminToken        Secret        `env:"CMEKD_ADMIN_TOKEN"`
	KMSEndpoint       string        `env:"CMEKD_KMS_ENDPOINT"`
	KMSTimeout        time.Duration `env:"CMEKD_KMS_TIMEOUT" envDefault:"5s"`
	PlatformPrincipal string        `env:"CMEKD_PLATFORM_PRINCIPAL"`
	// DataPrincipal is the data identity of grant mode; set, it turns grant mode on.
	DataPrincipal string `env:"CMEKD_DATA_PRINCIPAL"`
	// DataProfile names the shared AWS config profile the data identity's credentials come from.
	DataProfile     string        `env:"CMEKD_DATA_PROFILE"`
	Regions         []string      `env:"CMEKD_REGIONS" envSeparator:","`
	MultiRegionKeys string        `env:"CMEKD_MULTI_REGION_KEYS" envDefault:"allowed"`
	ProbeInterval   time.Duration `env:"CMEKD_PROBE_INTERVAL" envDefault:"60s"`
	PauseAfter      time.Duration `env:"CMEKD_PAUSE_AFTER" envDefault:"6h"`
	ProbeMaxRPS     float64       `env:"CMEKD_PROBE_MAX_RPS" envDefault:"100"`
	DEKCacheTTL     time.Duration `env:"CMEKD_DEK_CACHE_TTL" envDefault:"5m"`
	DEKMaxAge       time.Duration `env:"CMEKD_DEK_MAX_AGE" envDefault:"24h"`
	DEKMaxDocuments int           `env:"CMEKD_DEK_MAX_DOCUMENTS" envDefault:"100000"`
	ProviderKeyARN  string        `env:"CMEKD_PROVIDER_KEY_ARN"`
	Dev             bool          `env:"CMEKD_DEV"`
	// DevPostgres is which PostgreSQL dev mode uses: auto, private (a cluster of its own) or external
	// (CMEKD_DATABASE_URL's).
	DevPostgres string `env:"CMEKD_DEV_POSTGRES" envDefault:"auto"`
	// DatabaseURLSet reports whether CMEKD_DATABASE_URL was given rather than defaulted: dev mode's
	// auto only starts a private cluster in place of the default.
	DatabaseURLSet bool
	// WebhookHTTPHosts are exempt from the webhook URL rules: plain http and non-public addresses.
	WebhookHTTPHosts []string `env:"CMEKD_WEBHOOK_HTTP_HOSTS" envSeparator:","`
	// WebhookRetryBase is the wait before a failed webhook delivery's first retry.
	WebhookRetryBase time.Duration `env:"CMEKD_WEBHOOK_RETRY_BASE" envDefault:"10s"`
	// Per-organisation limits: the most of each an organisation may hold.
	MaxTokensPerOrg       int `env:"CMEKD_MAX_TOKENS_PER_ORG" envDefault:"1000"`
	MaxWebhooksPerOrg     int `env:"CMEKD_MAX_WEBHOOKS_PER_ORG" envDefault:"25"`
	MaxCollectionsPerOrg  int `env:"CMEKD_MAX_COLLECTIONS_PER_ORG" envDefault:"10000"`
	MaxSecretScopesPerOrg int `env:"CMEKD_MAX_SECRET_SCOPES_PER_ORG" envDefault:"1000"`
	MaxSecretsPerScope    int `env:"CMEKD_MAX_SECRETS_PER_SCOPE" envDefault:"10000"`
	MaxWorkspacesPerOrg   int `env:"CMEKD_MAX_WORKSPACES_PER_ORG" envDefault:"100"`
	// MaxInflightBytes bounds the memory the bodies of requests in flight take together; past it a
	// request waits briefly, then is answered 503 server_busy.
	MaxInflightBytes int64 `env:"CMEKD_MAX_INFLIGHT_BYTES" envDefault:"268435456"`
	// Providers are the key providers served: aws, gcp, azure.
	Providers []string `env:"CMEKD_PROVIDERS" envSeparator:"," envDefault:"aws"`
	// Google Cloud KMS: the platform's service account (serviceAccount:…), an endpoint override
	// (host:port) and the regions (locations) served. Credentials come from Application Default
	// Credentials (GOOGLE_APPLICATION_CREDENTIALS).
	GCPPrincipal   string   `env:"CMEKD_GCP_PRINCIPAL"`
	GCPKMSEndpoint string   `env:"CMEKD_GCP_KMS_ENDPOINT"`
	GCPRegions     []string `env:"CMEKD_GCP_REGIONS" envSeparator:"," envDefault:"us-central1,us-east1,europe-west1"`
	// Azure Key Vault: the platform's service principal (object id), the host:port every Azure
	// host is dialled to (keeping its name), and the regions served. Credentials come from
	// AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET.
	AzurePrincipal string   `env:"CMEKD_AZURE_PRINCIPAL"`
	AzureEndpoint  string   `env:"CMEKD_AZURE_ENDPOINT"`
	AzureRegions   []string `env:"CMEKD_AZURE_REGIONS" envSeparator:"," envDefault:"eastus,westus2,westeurope"`
	// TLSCAFile is a PEM file of a CA that provider endpoints may present (the emulator's).
	TLSCAFile string `env:"CMEKD_TLS_CA_FILE"`
	// PublicURL is the base URL customers' clouds reach cmekd at: key events are delivered to it.
	// Empty means http://127.0.0.1 at the port the server listens on.
	PublicURL string `env:"CMEKD_PUBLIC_URL"`
	// ProbeIntervalWithEvents replaces ProbeInterval for organisations whose key events arrived
	// within EventsFresh: their events tell cmekd of a change at once, the probe is the safety net.
	ProbeIntervalWithEvents time.Duration `env:"CMEKD_PROBE_INTERVAL_WITH_EVENTS" envDefault:"15m"`
	EventsFresh             time.Duration `env:"CMEKD_EVENTS_FRESH" envDefault:"24h"`
}

// Limits are the per-organisation limits the CMEKD_MAX_…_PER_… variables set.
func (c Config) Limits() domain.Limits {
	return domain.Limits{Tokens: c.MaxTokensPerOrg, Webhooks: c.MaxWebhooksPerOrg, Collections: c.MaxCollectionsPerOrg,
		SecretScopes: c.MaxSecretScopesPerOrg, SecretsPerScope: c.MaxSecretsPerScope, Workspaces: c.MaxWorkspacesPerOrg}
}

// GrantMode reports whether the platform runs as two identities with KMS grants.
func (c Config) GrantMode() bool { return c.DataPrincipal != "" }

// ProviderKeys are the platform's keys CMEKD_PROVIDER_KEY_ARN lists, one per region at most.
func (c Config) ProviderKeys() domain.ProviderKeys {
	if c.ProviderKeyARN == "" {
		return nil
	}
	return strings.Split(c.ProviderKeyARN, ",")
}

// devProbeInterval is dev mode's CMEKD_PROBE_INTERVAL unless it is set.
const devProbeInterval = 10 * time.Second

// devWebhookHost is the host dev mode lets webhooks reach over plain http: a receiver on the
// developer's own machine.
const devWebhookHost = "127.0.0.1"

// Secret is a string that never prints.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the value from %#v too.
func (s Secret) GoString() string { return s.String() }

// MarshalText hides the value from encoding/json and slog's JSON handler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Load reads the environment given as a lookup map (nil means the process environment), applies
// defaults and checks every value. It reports every bad variable at once, one line each, naming the
// variable and saying in words what it must be; it never shows the admin token.
func Load(environ map[string]string) (Config, error) {
	var c Config
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	lookup := func(name string) string {
		if environ != nil {
			return environ[name]
		}
		return os.Getenv(name)
	}
	p := &problems{}
	if err := env.ParseWithOptions(&c, opts); err != nil {
		p.parseErrors(err, lookup)
	}
	if len(c.Regions) == 0 && !p.failed["CMEKD_REGIONS"] {
		c.Regions = keyarn.DefaultRegions()
	}
	if c.Dev && len(c.WebhookHTTPHosts) == 0 && !p.failed["CMEKD_WEBHOOK_HTTP_HOSTS"] {
		c.WebhookHTTPHosts = []string{devWebhookHost}
	}
	c.DatabaseURLSet = lookup("CMEKD_DATABASE_URL") != ""
	if c.Dev && lookup("CMEKD_PROBE_INTERVAL") == "" {
		// A key the developer disables in the tour shows within seconds.
		c.ProbeInterval = devProbeInterval
	}
	c.validate(p)
	return c, p.err()
}

// problems collects what is wrong with the configuration, so that all of it is reported at once.
type problems struct {
	list   []error
	failed map[string]bool // variables that did not even parse: their checks are skipped
}

// add records a problem with a variable, unless the variable already failed to parse.
func (p *problems) add(name, format string, args ...any) {
	if p.failed[name] {
		return
	}
	p.list = append(p.list, fmt.Errorf("configuration: %s: %s", name, fmt.Sprintf(format, args...)))
}

func (p *problems) err() error { return errors.Join(p.list...) }

// kinds says in words what a value of each field type must be, instead of the parser's internals.
var kinds = map[reflect.Type]string{
	reflect.TypeFor[time.Duration](): "a duration in Go syntax, like 90s, 5m or 1h30m (there is no d unit)",
	reflect.TypeFor[bool]():          "true or false (or 1 or 0)",
	reflect.TypeFor[float64]():       "a number, like 100 or 2.5",
	reflect.TypeFor[int]():           "a whole number, like 100000",
	reflect.TypeFor[int64]():         "a whole number, like 100000",
}

// parseErrors records every variable the env library could not parse, by its variable name.
func (p *problems) parseErrors(err error, lookup func(string) string) {
	if p.failed == nil {
		p.failed = map[string]bool{}
	}
	var agg env.AggregateError
	errs := []error{err}
	if errors.As(err, &agg) {
		errs = agg.Errors
	}
	for _, e := range errs {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			p.list = append(p.list, fmt.Errorf("configuration: %v", e))
			continue
		}
		f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name)
		if !ok {
			p.list = append(p.list, fmt.Errorf("configuration: %v", e))
			continue
		}
		name := f.Tag.Get("env")
		what, known := kinds[f.Type]
		if !known {
			what = "a valid value"
		}
		p.add(name, "must be %s, got %q", what, lookup(name))
		p.failed[name] = true
	}
}

// validate checks every value that parsed, recording each problem in p: the lists first, which it
// also normalises, then the table of single-value checks, then grant mode and the providers.
func (c *Config) validate(p *problems) {
	c.validateLists(p)
	for _, ch := range c.checks() {
		if ch.bad {
			p.add(ch.name, ch.format, ch.args...)
		}
	}
	c.validateGrantMode(p)
	c.validateProviders(p)
}

// check is one rule about one variable: bad says the value breaks it, format and args say how.
type check struct {
	name   string
	bad    bool
	format string
	args   []any
}

// checks are the rules about single values, in the order their problems are reported.
func (c *Config) checks() []check {
	_, _, addrErr := net.SplitHostPort(c.Addr)
	list := []check{
		{"CMEKD_ADDR", addrErr != nil, "%q is not a host:port listen address (like :8080 or 127.0.0.1:8080)", []any{c.Addr}},
	}
	for _, v := range []struct {
		name string
		d    time.Duration
	}{
		{"CMEKD_KMS_TIMEOUT", c.KMSTimeout}, {"CMEKD_PROBE_INTERVAL", c.ProbeInterval},
		{"CMEKD_PAUSE_AFTER", c.PauseAfter}, {"CMEKD_DEK_CACHE_TTL", c.DEKCacheTTL}, {"CMEKD_DEK_MAX_AGE", c.DEKMaxAge},
		{"CMEKD_PROBE_INTERVAL_WITH_EVENTS", c.ProbeIntervalWithEvents}, {"CMEKD_EVENTS_FRESH", c.EventsFresh},
	} {
		list = append(list, check{v.name, v.d <= 0, "must be a positive duration, got %s", []any{v.d}})
	}
	for _, v := range []struct {
		name string
		n    int
	}{
		{"CMEKD_MAX_TOKENS_PER_ORG", c.MaxTokensPerOrg}, {"CMEKD_MAX_WEBHOOKS_PER_ORG", c.MaxWebhooksPerOrg},
		{"CMEKD_MAX_COLLECTIONS_PER_ORG", c.MaxCollectionsPerOrg}, {"CMEKD_MAX_SECRET_SCOPES_PER_ORG", c.MaxSecretScopesPerOrg},
		{"CMEKD_MAX_SECRETS_PER_SCOPE", c.MaxSecretsPerScope}, {"CMEKD_MAX_WORKSPACES_PER_ORG", c.MaxWorkspacesPerOrg},
	} {
		list = append(list, check{v.name, v.n <= 0, "must be a positive count, got %d", []any{v.n}})
	}
	public, publicOK := httpURL(c.PublicURL)
	_, endpointOK := httpURL(c.KMSEndpoint)
	return append(list, []check{
		{"CMEKD_WEBHOOK_RETRY_BASE", c.WebhookRetryBase <= 0 || c.WebhookRetryBase > time.Hour,
			"must be a positive duration of at most 1h, got %s", []any{c.WebhookRetryBase}},
		{"CMEKD_DEK_CACHE_TTL", c.DEKCacheTTL > MaxDEKCacheTTL,
			"must be at most %s: plaintext data keys may not outlive a revoked key longer, got %s", []any{MaxDEKCacheTTL, c.DEKCacheTTL}},
		// NaN and infinity parse as floats; neither is a rate.
		{"CMEKD_PROBE_MAX_RPS", !(c.ProbeMaxRPS > 0) || math.IsInf(c.ProbeMaxRPS, 0), "must be a positive number, got %v", []any{c.ProbeMaxRPS}},
		{"CMEKD_DEK_MAX_DOCUMENTS", c.DEKMaxDocuments <= 0, "must be positive, got %d", []any{c.DEKMaxDocuments}},
		{"CMEKD_PUBLIC_URL", c.PublicURL != "" && (!publicOK || public.RawQuery != "" || public.Fragment != "" || public.User != nil),
			"%q is not an http(s) base URL like https://cmekd.example.com (no query, fragment or credentials)", []any{c.PublicURL}},
		{"CMEKD_MAX_INFLIGHT_BYTES", c.MaxInflightBytes < MinInflightBytes,
			"must be at least %d (8 MiB, the largest request body), got %d", []any{MinInflightBytes, c.MaxInflightBytes}},
		{"CMEKD_KMS_ENDPOINT", c.KMSEndpoint != "" && !endpointOK, "%q is not an http(s) URL", []any{c.KMSEndpoint}},
		{"CMEKD_MULTI_REGION_KEYS", fails(keyarn.ParseMultiRegionPolicy(c.MultiRegionKeys)),
			"must be required, allowed or rejected, got %q", []any{c.MultiRegionKeys}},
		{"CMEKD_PLATFORM_PRINCIPAL", c.PlatformPrincipal != "" && !keypolicy.ValidPrincipal(c.PlatformPrincipal),
			"%q is not an IAM principal ARN (arn:aws:iam::<account>:root or a role)", []any{c.PlatformPrincipal}},
		{"CMEKD_ADMIN_TOKEN", !c.Dev && c.AdminToken == "", "is required (outside dev mode)", nil},
		{"CMEKD_PLATFORM_PRINCIPAL", !c.Dev && c.PlatformPrincipal == "", "is required (outside dev mode)", nil},
		{"CMEKD_PROVIDER_KEY_ARN", !c.Dev && c.ProviderKeyARN == "", "is required (outside dev mode)", nil},
		{"CMEKD_ADMIN_TOKEN", c.AdminToken != "" && len(c.AdminToken) < 32, "must be at least 32 characters", nil},
		{"CMEKD_DEV_POSTGRES", c.DevPostgres == "private" && c.DatabaseURLSet,
			"private starts a PostgreSQL cluster of its own, so CMEKD_DATABASE_URL must be unset (or CMEKD_DEV_POSTGRES external to use it)", nil},
		{"CMEKD_DEV_POSTGRES", !slices.Contains([]string{"auto", "private", "external"}, c.DevPostgres),
			"must be auto, private or external, got %q", []any{c.DevPostgres}},
		// The URL may hold a password: the message never repeats it, nor the parser's words about it.
		{"CMEKD_DATABASE_URL", !namesDatabase(c.DatabaseURL),
			"must be a PostgreSQL URL naming a database, like postgres://user@host:5432/cmekd?sslmode=disable", nil},
	}...)
}

// validateLists trims the entries of the list variables and checks each, and keeps only the valid,
// normalised key ARNs of CMEKD_PROVIDER_KEY_ARN, at most one a region.
func (c *Config) validateLists(p *problems) {
	for i, h := range c.WebhookHTTPHosts {
		h = strings.TrimSpace(h)
		if !validHost(h) {
			p.add("CMEKD_WEBHOOK_HTTP_HOSTS", "%q is not a host as written in a URL (a comma-separated list like 127.0.0.1,receiver.internal,[::1]; no scheme, port or path)", h)
		}
		c.WebhookHTTPHosts[i] = h
	}
	for i, r := range c.Regions {
		r = strings.TrimSpace(r)
		if !keyarn.ValidRegion(r) {
			p.add("CMEKD_REGIONS", "%q is not an AWS region name (a comma-separated list like us-east-1,eu-west-1)", r)
		}
		c.Regions[i] = r
	}
	if c.ProviderKeyARN == "" {
		return
	}
	var arns []string
	seen := map[string]string{}
	for _, raw := range strings.Split(c.ProviderKeyARN, ",") {
		a, err := keyarn.Parse(raw)
		if err != nil {
			p.add("CMEKD_PROVIDER_KEY_ARN", "%v", err)
			continue
		}
		if other, dup := seen[a.Region]; dup {
			p.add("CMEKD_PROVIDER_KEY_ARN", "lists two keys of region %s (%s and %s); give at most one per region", a.Region, other, a)
			continue
		}
		seen[a.Region] = a.String()
		arns = append(arns, a.String())
	}
	c.ProviderKeyARN = strings.Join(arns, ",")
}

// fails says whether a call that returns a value and an error failed.
func fails[T any](_ T, err error) bool { return err != nil }

// httpURL parses s as an http(s) URL with a host; ok is false for anything else.
func httpURL(s string) (u *url.URL, ok bool) {
	u, err := url.Parse(s)
	return u, err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// namesDatabase says whether s is a PostgreSQL URL that names a database.
func namesDatabase(s string) bool {
	pc, err := pgconn.ParseConfig(s)
	return err == nil && pc.Database != ""
}

// validateGrantMode checks the two identities of grant mode. Both must be role or user ARNs: a key
// policy that names an account root admits every principal of that account, so a root control
// identity would admit the data identity to the control statements (and the other way round).
// validateProviders refuses a provider cmekd does not know, and an enabled provider without what it
// needs.
func (c *Config) validateProviders(p *problems) {
	for _, name := range c.Providers {
		switch name {
		case "aws":
		case "gcp":
			if !strings.HasPrefix(c.GCPPrincipal, "serviceAccount:") && !c.Dev {
				p.add("CMEKD_GCP_PRINCIPAL", "gcp is in CMEKD_PROVIDERS: give the platform's service account, serviceAccount:<email>")
			}
		case "azure":
			if c.AzurePrincipal == "" && !c.Dev {
				p.add("CMEKD_AZURE_PRINCIPAL", "azure is in CMEKD_PROVIDERS: give the object id of the platform's service principal")
			}
		default:
			p.add("CMEKD_PROVIDERS", "%q is not a provider: give a comma-separated list of aws, gcp and azure", name)
		}
	}
	if !slices.Contains(c.Providers, "aws") {
		p.add("CMEKD_PROVIDERS", "must include aws: the platform's own key (CMEKD_PROVIDER_KEY_ARN) is an AWS key")
	}
	if c.TLSCAFile != "" {
		if b, err := os.ReadFile(c.TLSCAFile); err != nil || !strings.Contains(string(b), "BEGIN CERTIFICATE") {
			p.add("CMEKD_TLS_CA_FILE", "%q is not a readable PEM file of a CA certificate", c.TLSCAFile)
		}
	}
}

func (c *Config) validateGrantMode(p *problems) {
	if c.DataPrincipal == "" {
		if c.DataProfile != "" {
			p.add("CMEKD_DATA_PROFILE", "is set but CMEKD_DATA_PRINCIPAL is empty; set both for grant mode, or neither")
		}
		return
	}
	if c.Dev {
		p.add("CMEKD_DATA_PRINCIPAL", "grant mode needs two AWS identities, and dev mode's embedded emulator has one: unset it or CMEKD_DEV")
		return
	}
	named := []struct{ name, value string }{
		{"CMEKD_PLATFORM_PRINCIPAL", c.PlatformPrincipal}, {"CMEKD_DATA_PRINCIPAL", c.DataPrincipal},
	}
	if !keypolicy.ValidPrincipal(c.DataPrincipal) {
		p.add("CMEKD_DATA_PRINCIPAL", "%q is not an IAM principal ARN (arn:aws:iam::<account>:role/<name> or :user/<name>)", c.DataPrincipal)
		named = named[:1]
	}
	for _, v := range named {
		// An invalid platform principal is reported above.
		if keypolicy.ValidPrincipal(v.value) && !keypolicy.IdentityPrincipal(v.value) {
			p.add(v.name, "%q must be a role or user ARN (arn:aws:iam::<account>:role/<name> or :user/<name>) when CMEKD_DATA_PRINCIPAL is set: "+
				"an account root or account id in a key policy admits every identity of that account, the other identity too", v.value)
		}
	}
	if c.DataPrincipal == c.PlatformPrincipal {
		p.add("CMEKD_DATA_PRINCIPAL", "must be another identity than CMEKD_PLATFORM_PRINCIPAL (%q): the point of grant mode is that the control identity cannot decrypt", c.DataPrincipal)
	}
	if c.DataProfile == "" {
		p.add("CMEKD_DATA_PROFILE", "is required when CMEKD_DATA_PRINCIPAL is set: the shared AWS config profile (~/.aws/config) that holds the data identity's credentials")
	}
}

// Unknown lists the CMEKD_ variables of the environment (nil means the process environment) that
// cmekd does not read: most likely misspelt, so the server warns about each.
func Unknown(environ map[string]string) []string {
	known := map[string]bool{}
	for _, v := range Variables() {
		known[v] = true
	}
	var names []string
	if environ == nil {
		for _, kv := range os.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			names = append(names, name)
		}
	} else {
		for name := range environ {
			names = append(names, name)
		}
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "CMEKD_") && !known[n] && !strings.HasPrefix(n, "CMEKD_TEST_") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Variable is one environment variable cmekd reads, with its default ("" when it has none).
type Variable struct {
	Name, Default string
}

// Describe lists every variable cmekd reads with its default, in the order of Config's fields, for
// cmekd -h.
func Describe() []Variable {
	t := reflect.TypeFor[Config]()
	var out []Variable
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("env"); name != "" {
			out = append(out, Variable{Name: name, Default: t.Field(i).Tag.Get("envDefault")})
		}
	}
	return out
}

// validHost reports whether h is a URL host without a port: an IPv4 address, a bracketed (or bare)
// IPv6 address, or a DNS name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// Variables lists every environment variable cmekd reads, in the order of Config's fields.
func Variables() []string {
	t := reflect.TypeFor[Config]()
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("env"); name != "" {
			out = append(out, name)
		}
	}
	return out
}
