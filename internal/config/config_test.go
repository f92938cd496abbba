package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/keyarn"
)

const (
	token     = "admin-token-0123456789abcdef-0123456789"
	principal = "arn:aws:iam::999988887777:root"
	keyARN    = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// required is the least environment a server outside dev mode starts with.
func required() map[string]string {
	return map[string]string{
		"CMEKD_ADMIN_TOKEN":        token,
		"CMEKD_PLATFORM_PRINCIPAL": principal,
		"CMEKD_PROVIDER_KEY_ARN":   keyARN,
	}
}

// with returns the required environment with changes; an empty value is set as empty.
func with(changes map[string]string) map[string]string {
	e := required()
	maps.Copy(e, changes)
	return e
}

// loadError loads env and returns the error, failing the test if it loaded.
func loadError(t *testing.T, env map[string]string) error {
	t.Helper()
	_, err := config.Load(env)
	if err == nil {
		t.Fatal("Load succeeded; want an error")
	}
	return err
}

func TestLoad_DefaultsWhenOnlyRequiredVariablesAreSet(t *testing.T) {
	t.Parallel()
	got, err := config.Load(required())
	if err != nil {
		t.Fatal(err)
	}
	// The documented defaults, plus CMEKD_KMS_TIMEOUT and CMEKD_DEK_MAX_DOCUMENTS, which it leaves to us.
	want := config.Config{
		Addr:              ":8080",
		DatabaseURL:       "postgres://postgres@127.0.0.1:5432/cmekd?sslmode=disable",
		AdminToken:        token,
		KMSEndpoint:       "",
		KMSTimeout:        5 * time.Second,
		PlatformPrincipal: principal,
		Regions:           keyarn.DefaultRegions(),
		MultiRegionKeys:   "allowed",
		ProbeInterval:     60 * time.Second,
		PauseAfter:        6 * time.Hour,
		ProbeMaxRPS:       100,
		DEKCacheTTL:       5 * time.Minute,
		DEKMaxAge:         24 * time.Hour,
		DEKMaxDocuments:   100000,
		ProviderKeyARN:    keyARN,
		Dev:               false,
		DevPostgres:       "auto",
		WebhookRetryBase:  10 * time.Second,
		// The per-organisation limits.
		MaxTokensPerOrg: 1000, MaxWebhooksPerOrg: 25, MaxCollectionsPerOrg: 10000,
		MaxSecretScopesPerOrg: 1000, MaxSecretsPerScope: 10000, MaxWorkspacesPerOrg: 100, MaxInflightBytes: 256 << 20,
		// The key providers: AWS alone unless told, and the regions served for the others.
		Providers:  []string{"aws"},
		GCPRegions: []string{"us-central1", "us-east1", "europe-west1"}, AzureRegions: []string{"eastus", "westus2", "westeurope"},
		ProbeIntervalWithEvents: 15 * time.Minute, EventsFresh: 24 * time.Hour,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(required only) =\n%+v\nwant\n%+v", got, want)
	}
	// "Common AWS regions": the usual commercial ones, each a valid region name.
	for _, r := range []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"} {
		if !slices.Contains(got.Regions, r) {
			t.Errorf("default CMEKD_REGIONS %v lacks %s", got.Regions, r)
		}
	}
	if got.DEKCacheTTL != config.MaxDEKCacheTTL {
		t.Errorf("default CMEKD_DEK_CACHE_TTL is %s; the default is the maximum, %s", got.DEKCacheTTL, config.MaxDEKCacheTTL)
	}
}

func TestLoad_DevModeNeedsNoRequiredVariable(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"1", "true", "TRUE", "t"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			got, err := config.Load(map[string]string{"CMEKD_DEV": v})
			if err != nil {
				t.Fatal(err)
			}
			if !got.Dev || got.AdminToken != "" || got.PlatformPrincipal != "" || got.ProviderKeyARN != "" {
				t.Errorf("dev mode config = %+v; want Dev and the required variables left to dev mode", got)
			}
			if !slices.Equal(got.WebhookHTTPHosts, []string{"127.0.0.1"}) {
				t.Errorf("dev mode CMEKD_WEBHOOK_HTTP_HOSTS = %v, want [127.0.0.1]", got.WebhookHTTPHosts)
			}
		})
	}
}

func TestLoad_RefusesMissingRequiredVariable(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"CMEKD_ADMIN_TOKEN", "CMEKD_PLATFORM_PRINCIPAL", "CMEKD_PROVIDER_KEY_ARN"} {
		for _, how := range []string{"unset", "empty", "dev off"} {
			t.Run(name+"/"+how, func(t *testing.T) {
				t.Parallel()
				e := required()
				switch how {
				case "unset":
					delete(e, name)
				case "empty":
					e[name] = ""
				case "dev off":
					delete(e, name)
					e["CMEKD_DEV"] = "false"
				}
				_, err := config.Load(e)
				wantNamed(t, err, name)
				if !strings.Contains(err.Error(), "required") {
					t.Errorf("error %q does not say the variable is required", err)
				}
			})
		}
	}
}

func TestLoad_RefusesBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string // variable
		value string
	}{
		{"CMEKD_ADDR", "8080"},
		{"CMEKD_MAX_TOKENS_PER_ORG", "0"},
		{"CMEKD_MAX_SECRETS_PER_SCOPE", "-1"},
		{"CMEKD_MAX_WEBHOOKS_PER_ORG", "many"},
		{"CMEKD_MAX_INFLIGHT_BYTES", "1048576"},
		{"CMEKD_MAX_INFLIGHT_BYTES", "256MiB"},
		{"CMEKD_WEBHOOK_RETRY_BASE", "10"},
		{"CMEKD_WEBHOOK_RETRY_BASE", "0s"},
		{"CMEKD_WEBHOOK_RETRY_BASE", "2h"},
		{"CMEKD_WEBHOOK_HTTP_HOSTS", "http://127.0.0.1"},
		{"CMEKD_WEBHOOK_HTTP_HOSTS", "127.0.0.1:8080"},
		{"CMEKD_WEBHOOK_HTTP_HOSTS", "receiver/path"},
		{"CMEKD_WEBHOOK_HTTP_HOSTS", "a,,b"},
		{"CMEKD_ADDR", "localhost"},
		{"CMEKD_KMS_ENDPOINT", "localhost:4566"},
		{"CMEKD_KMS_ENDPOINT", "ftp://127.0.0.1:4566"},
		{"CMEKD_KMS_ENDPOINT", "http://"},
		{"CMEKD_KMS_TIMEOUT", "5"},
		{"CMEKD_KMS_TIMEOUT", "soon"},
		{"CMEKD_KMS_TIMEOUT", "0s"},
		{"CMEKD_KMS_TIMEOUT", "-1s"},
		{"CMEKD_PROBE_INTERVAL", "60"},
		{"CMEKD_PROBE_INTERVAL", "1 minute"},
		{"CMEKD_PROBE_INTERVAL", "0"},
		{"CMEKD_PROBE_INTERVAL", "-60s"},
		{"CMEKD_PAUSE_AFTER", "6 hours"},
		{"CMEKD_PAUSE_AFTER", "0s"},
		{"CMEKD_PAUSE_AFTER", "-6h"},
		{"CMEKD_DEK_CACHE_TTL", "five"},
		{"CMEKD_DEK_CACHE_TTL", "0s"},
		{"CMEKD_DEK_CACHE_TTL", "-5m"},
		{"CMEKD_DEK_CACHE_TTL", "5m1s"},
		{"CMEKD_DEK_CACHE_TTL", "1h"},
		{"CMEKD_DEK_MAX_AGE", "1d"}, // Go durations have no day unit
		{"CMEKD_DEK_MAX_AGE", "0s"},
		{"CMEKD_DEK_MAX_AGE", "-24h"},
		{"CMEKD_DEK_MAX_DOCUMENTS", "lots"},
		{"CMEKD_DEK_MAX_DOCUMENTS", "1e5"},
		{"CMEKD_DEK_MAX_DOCUMENTS", "0"},
		{"CMEKD_DEK_MAX_DOCUMENTS", "-1"},
		{"CMEKD_PROBE_MAX_RPS", "fast"},
		{"CMEKD_PROBE_MAX_RPS", "0"},
		{"CMEKD_PROBE_MAX_RPS", "-5"},
		{"CMEKD_PROBE_MAX_RPS", "NaN"},
		{"CMEKD_PROBE_MAX_RPS", "Inf"},
		{"CMEKD_MULTI_REGION_KEYS", "optional"},
		{"CMEKD_MULTI_REGION_KEYS", "Required"},
		{"CMEKD_MULTI_REGION_KEYS", "yes"},
		{"CMEKD_MULTI_REGION_KEYS", "allowed "},
		{"CMEKD_REGIONS", "us-west-2,,eu-west-1"},
		{"CMEKD_REGIONS", ","},
		{"CMEKD_REGIONS", "US-WEST-2"},
		{"CMEKD_REGIONS", "us-west-2;eu-west-1"},
		{"CMEKD_REGIONS", "us-west-2,mars"},
		{"CMEKD_REGIONS", "us-west"},
		{"CMEKD_PLATFORM_PRINCIPAL", "root"},
		{"CMEKD_PLATFORM_PRINCIPAL", "arn:aws:iam::12345:root"},
		{"CMEKD_PLATFORM_PRINCIPAL", "arn:aws:iam::*:root"},
		{"CMEKD_PLATFORM_PRINCIPAL", "arn:aws:iam::999988887777:role/*"},
		{"CMEKD_PLATFORM_PRINCIPAL", "arn:aws:sts::999988887777:assumed-role/platform/session"},
		{"CMEKD_PROVIDER_KEY_ARN", "arn:aws:kms:us-west-2:111122223333:alias/platform"},
		{"CMEKD_PROVIDER_KEY_ARN", "alias/platform"},
		{"CMEKD_PROVIDER_KEY_ARN", "1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"CMEKD_PROVIDER_KEY_ARN", "mrk-1234abcd12ab34cd56ef1234567890ab"},
		{"CMEKD_PROVIDER_KEY_ARN", "arn:aws:s3:::platform-bucket"},
		{"CMEKD_PROVIDER_KEY_ARN", "arn:aws:kms:us-west-2:11112222333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"CMEKD_PROVIDER_KEY_ARN", "arn:aws:kms:us-west-2:111122223333:key/1234ABCD-12AB-34CD-56EF-1234567890AB"},
		{"CMEKD_PROVIDER_KEY_ARN", "arn:aws:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"CMEKD_ADMIN_TOKEN", "short-token"},
		{"CMEKD_DEV", "yes"},
		{"CMEKD_DEV_POSTGRES", "embedded"},
		{"CMEKD_DEV_POSTGRES", "Private"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(with(map[string]string{tt.name: tt.value}))
			wantNamed(t, err, tt.name)
		})
	}
}

func TestLoad_AcceptsGoodValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		check func(config.Config) bool
	}{
		{"cache TTL at the maximum", map[string]string{"CMEKD_DEK_CACHE_TTL": "300s"},
			func(c config.Config) bool { return c.DEKCacheTTL == 5*time.Minute }},
		{"cache TTL below the maximum", map[string]string{"CMEKD_DEK_CACHE_TTL": "30s"},
			func(c config.Config) bool { return c.DEKCacheTTL == 30*time.Second }},
		{"durations in Go syntax", map[string]string{"CMEKD_PROBE_INTERVAL": "90s", "CMEKD_PAUSE_AFTER": "1h30m", "CMEKD_DEK_MAX_AGE": "168h", "CMEKD_KMS_TIMEOUT": "1500ms"},
			func(c config.Config) bool {
				return c.ProbeInterval == 90*time.Second && c.PauseAfter == 90*time.Minute &&
					c.DEKMaxAge == 7*24*time.Hour && c.KMSTimeout == 1500*time.Millisecond
			}},
		{"regions, spaces around commas trimmed", map[string]string{"CMEKD_REGIONS": " us-west-2 , eu-west-1,us-gov-west-1"},
			func(c config.Config) bool {
				return slices.Equal(c.Regions, []string{"us-west-2", "eu-west-1", "us-gov-west-1"})
			}},
		{"empty region list means the default", map[string]string{"CMEKD_REGIONS": ""},
			func(c config.Config) bool { return slices.Equal(c.Regions, keyarn.DefaultRegions()) }},
		{"multi-region keys required", map[string]string{"CMEKD_MULTI_REGION_KEYS": "required"},
			func(c config.Config) bool { return c.MultiRegionKeys == "required" }},
		{"multi-region keys rejected", map[string]string{"CMEKD_MULTI_REGION_KEYS": "rejected"},
			func(c config.Config) bool { return c.MultiRegionKeys == "rejected" }},
		{"empty multi-region setting means the default", map[string]string{"CMEKD_MULTI_REGION_KEYS": ""},
			func(c config.Config) bool { return c.MultiRegionKeys == "allowed" }},
		{"empty database URL means the default", map[string]string{"CMEKD_DATABASE_URL": ""},
			func(c config.Config) bool {
				return c.DatabaseURL == "postgres://postgres@127.0.0.1:5432/cmekd?sslmode=disable"
			}},
		{"KMS endpoint", map[string]string{"CMEKD_KMS_ENDPOINT": "http://localstack:4566"},
			func(c config.Config) bool { return c.KMSEndpoint == "http://localstack:4566" }},
		{"provider key ARN, whitespace trimmed", map[string]string{"CMEKD_PROVIDER_KEY_ARN": "  " + keyARN + "\n"},
			func(c config.Config) bool { return c.ProviderKeyARN == keyARN }},
		{"multi-region provider key", map[string]string{"CMEKD_PROVIDER_KEY_ARN": "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"},
			func(c config.Config) bool {
				return c.ProviderKeyARN == "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
			}},
		{"platform principal as a role", map[string]string{"CMEKD_PLATFORM_PRINCIPAL": "arn:aws:iam::999988887777:role/service/cmekd"},
			func(c config.Config) bool {
				return c.PlatformPrincipal == "arn:aws:iam::999988887777:role/service/cmekd"
			}},
		{"listen address", map[string]string{"CMEKD_ADDR": "127.0.0.1:0"},
			func(c config.Config) bool { return c.Addr == "127.0.0.1:0" }},
		{"probe rate below one per second", map[string]string{"CMEKD_PROBE_MAX_RPS": "0.5"},
			func(c config.Config) bool { return c.ProbeMaxRPS == 0.5 }},
		{"dev mode's PostgreSQL defaults to auto, the database URL to unset", map[string]string{"CMEKD_DEV": "1"},
			func(c config.Config) bool { return c.DevPostgres == "auto" && !c.DatabaseURLSet }},
		{"dev mode's PostgreSQL private", map[string]string{"CMEKD_DEV": "1", "CMEKD_DEV_POSTGRES": "private"},
			func(c config.Config) bool { return c.DevPostgres == "private" }},
		{"dev mode's PostgreSQL external, at a database URL given", map[string]string{"CMEKD_DEV": "1", "CMEKD_DEV_POSTGRES": "external",
			"CMEKD_DATABASE_URL": "postgres://me@db.internal/cmekd"},
			func(c config.Config) bool { return c.DevPostgres == "external" && c.DatabaseURLSet }},
		{"dev mode with a chosen admin token", map[string]string{"CMEKD_DEV": "1", "CMEKD_ADMIN_TOKEN": token},
			func(c config.Config) bool { return c.Dev && c.AdminToken == token }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.Load(with(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Errorf("Load(%v) = %+v", tt.env, got)
			}
		})
	}
}

// TestLoad_RefusesAPrivateClusterBesideADatabaseURL: a private cluster replaces the database URL, so
// one given is a contradiction, not something to ignore.
func TestLoad_RefusesAPrivateClusterBesideADatabaseURL(t *testing.T) {
	t.Parallel()
	_, err := config.Load(map[string]string{"CMEKD_DEV": "1", "CMEKD_DEV_POSTGRES": "private", "CMEKD_DATABASE_URL": "postgres://me@db.internal/cmekd"})
	wantNamed(t, err, "CMEKD_DEV_POSTGRES")
}

func TestLoad_ErrorNeverShowsTheAdminToken(t *testing.T) {
	t.Parallel()
	const short = "s3cr3t-but-too-short"
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"token too short", with(map[string]string{"CMEKD_ADMIN_TOKEN": short})},
		{"token too short in dev mode", map[string]string{"CMEKD_DEV": "1", "CMEKD_ADMIN_TOKEN": short}},
		{"another variable bad", with(map[string]string{"CMEKD_ADMIN_TOKEN": short, "CMEKD_KMS_TIMEOUT": "forever"})},
		{"another variable missing", map[string]string{"CMEKD_ADMIN_TOKEN": short}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := loadError(t, tt.env)
			if strings.Contains(err.Error(), short) {
				t.Errorf("error %q shows the admin token", err)
			}
		})
	}
}

func TestConfig_NeverPrintsTheAdminToken(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(required())
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", cfg)
	var text bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "cfg", cfg)
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{
		"fmt.Sprint":   fmt.Sprint(cfg),
		"%v pointer":   fmt.Sprintf("%v", &cfg),
		"%+v":          fmt.Sprintf("%+v", cfg),
		"%#v":          fmt.Sprintf("%#v", cfg),
		"%s":           fmt.Sprintf("token %s", cfg.AdminToken),
		"json":         string(js),
		"slog JSON":    logged.String(),
		"slog text":    text.String(),
		"field String": cfg.AdminToken.String(),
	} {
		if strings.Contains(s, token) {
			t.Errorf("%s shows the admin token: %s", name, s)
		}
		if !strings.Contains(s, "[redacted]") {
			t.Errorf("%s does not show that a token is set: %s", name, s)
		}
	}
	if string(cfg.AdminToken) != token {
		t.Errorf("the token itself is lost: %q", string(cfg.AdminToken))
	}
}

// wantNamed fails unless err is a configuration error that names the variable.
func wantNamed(t *testing.T, err error, name string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load succeeded; want an error naming %s", name)
	}
	if !strings.HasPrefix(err.Error(), "configuration: "+name+": ") {
		t.Errorf("error %q does not name %s", err, name)
	}
}

// TestLoad_ReportsEveryBadVariableAtOnceInWords: one start tells the operator everything that is
// wrong, one line per variable, without the parser's internals.
func TestLoad_ReportsEveryBadVariableAtOnceInWords(t *testing.T) {
	t.Parallel()
	err := loadError(t, with(map[string]string{
		"CMEKD_DEV":               "yes",
		"CMEKD_PROBE_INTERVAL":    "every minute",
		"CMEKD_PROBE_MAX_RPS":     "fast",
		"CMEKD_DEK_MAX_DOCUMENTS": "lots",
		"CMEKD_ADDR":              "8080",
		"CMEKD_DATABASE_URL":      "mysql://root:hunter2@db/cmekd",
	}))
	lines := strings.Split(err.Error(), "\n")
	for _, name := range []string{"CMEKD_DEV", "CMEKD_PROBE_INTERVAL", "CMEKD_PROBE_MAX_RPS", "CMEKD_DEK_MAX_DOCUMENTS", "CMEKD_ADDR", "CMEKD_DATABASE_URL"} {
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "configuration: "+name+": ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s named on %d lines, want 1:\n%s", name, n, err)
		}
	}
	for _, internal := range []string{"strconv", "ParseBool", "ParseFloat", "time: invalid", "hunter2", "env:"} {
		if strings.Contains(err.Error(), internal) {
			t.Errorf("the error shows %q:\n%s", internal, err)
		}
	}
	if !strings.Contains(err.Error(), `CMEKD_DEV: must be true or false (or 1 or 0), got "yes"`) {
		t.Errorf("the boolean's error does not say what it must be:\n%s", err)
	}
}

// TestUnknown_NamesMisspeltVariables: a CMEKD_ variable cmekd does not read is most likely misspelt.
func TestUnknown_NamesMisspeltVariables(t *testing.T) {
	t.Parallel()
	got := config.Unknown(map[string]string{"CMEKD_PROBE_INTERVALL": "1s", "CMEKD_ADDR": ":1", "HOME": "/root", "CMEKD_TEST_DATABASE_URL": "x", "CMEKD_REGION": "us-east-1"})
	if want := []string{"CMEKD_PROBE_INTERVALL", "CMEKD_REGION"}; !slices.Equal(got, want) {
		t.Fatalf("Unknown = %v, want %v", got, want)
	}
}

// TestLoad_DevModeProbesEveryTenSecondsUnlessTold: a key disabled in dev mode's tour shows within
// seconds; CMEKD_PROBE_INTERVAL still wins.
func TestLoad_DevModeProbesEveryTenSecondsUnlessTold(t *testing.T) {
	t.Parallel()
	got, err := config.Load(map[string]string{"CMEKD_DEV": "1"})
	if err != nil || got.ProbeInterval != 10*time.Second {
		t.Fatalf("dev mode probe interval %s, %v; want 10s", got.ProbeInterval, err)
	}
	got, err = config.Load(map[string]string{"CMEKD_DEV": "1", "CMEKD_PROBE_INTERVAL": "45s"})
	if err != nil || got.ProbeInterval != 45*time.Second {
		t.Fatalf("dev mode with CMEKD_PROBE_INTERVAL=45s: %s, %v", got.ProbeInterval, err)
	}
}

// TestLoad_ProvidersNeedWhatTheyUse: an unknown provider, or gcp and azure without their principals,
// stop the server naming the variable; AWS is always served (the platform's key is AWS's).
func TestLoad_ProvidersNeedWhatTheyUse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"CMEKD_PROVIDERS": "aws,oracle"}, "CMEKD_PROVIDERS"},
		{map[string]string{"CMEKD_PROVIDERS": "gcp"}, "CMEKD_PROVIDERS"},
		{map[string]string{"CMEKD_PROVIDERS": "aws,gcp"}, "CMEKD_GCP_PRINCIPAL"},
		{map[string]string{"CMEKD_PROVIDERS": "aws,gcp", "CMEKD_GCP_PRINCIPAL": "user:someone@example.com"}, "CMEKD_GCP_PRINCIPAL"},
		{map[string]string{"CMEKD_PROVIDERS": "aws,azure"}, "CMEKD_AZURE_PRINCIPAL"},
		{map[string]string{"CMEKD_TLS_CA_FILE": "/nonexistent/ca.pem"}, "CMEKD_TLS_CA_FILE"},
	}
	for _, c := range cases {
		env := required()
		maps.Copy(env, c.env)
		_, err := config.Load(env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error naming %s", c.env, err, c.want)
		}
	}
	env := required()
	maps.Copy(env, map[string]string{"CMEKD_PROVIDERS": "aws,gcp,azure", "CMEKD_GCP_PRINCIPAL": "serviceAccount:cmekd@platform.iam.gserviceaccount.com",
		"CMEKD_AZURE_PRINCIPAL": "00000000-0000-0000-0000-000000000001"})
	if got, err := config.Load(env); err != nil || len(got.Providers) != 3 {
		t.Fatalf("all three providers: %+v, %v", got.Providers, err)
	}
}
