// Package config loads cmekd's configuration from the environment once at start (SPEC §10).
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
)

// MaxDEKCacheTTL is the longest a plaintext data key may stay in memory (SPEC §8).
const MaxDEKCacheTTL = 5 * time.Minute

// Config is every setting of the server.
type Config struct {
	Addr              string        `env:"CMEKD_ADDR" envDefault:":8080"`
	DatabaseURL       string        `env:"CMEKD_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/cmekd?sslmode=disable"`
	AdminToken        Secret        `env:"CMEKD_ADMIN_TOKEN"`
	KMSEndpoint       string        `env:"CMEKD_KMS_ENDPOINT"`
	KMSTimeout        time.Duration `env:"CMEKD_KMS_TIMEOUT" envDefault:"5s"`
	PlatformPrincipal string        `env:"CMEKD_PLATFORM_PRINCIPAL"`
	Regions           []string      `env:"CMEKD_REGIONS" envSeparator:","`
	MultiRegionKeys   string        `env:"CMEKD_MULTI_REGION_KEYS" envDefault:"allowed"`
	ProbeInterval     time.Duration `env:"CMEKD_PROBE_INTERVAL" envDefault:"60s"`
	PauseAfter        time.Duration `env:"CMEKD_PAUSE_AFTER" envDefault:"6h"`
	ProbeMaxRPS       float64       `env:"CMEKD_PROBE_MAX_RPS" envDefault:"100"`
	DEKCacheTTL       time.Duration `env:"CMEKD_DEK_CACHE_TTL" envDefault:"5m"`
	DEKMaxAge         time.Duration `env:"CMEKD_DEK_MAX_AGE" envDefault:"24h"`
	DEKMaxDocuments   int           `env:"CMEKD_DEK_MAX_DOCUMENTS" envDefault:"100000"`
	ProviderKeyARN    string        `env:"CMEKD_PROVIDER_KEY_ARN"`
	Dev               bool          `env:"CMEKD_DEV"`
	// WebhookHTTPHosts are exempt from the webhook URL rules: plain http and non-public addresses (SPEC §14).
	WebhookHTTPHosts []string `env:"CMEKD_WEBHOOK_HTTP_HOSTS" envSeparator:","`
	// WebhookRetryBase is the wait before a failed webhook delivery's first retry.
	WebhookRetryBase time.Duration `env:"CMEKD_WEBHOOK_RETRY_BASE" envDefault:"10s"`
}

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
// defaults and checks every value; an error names the variable at fault and never shows the admin token.
func Load(environ map[string]string) (Config, error) {
	var c Config
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(&c, opts); err != nil {
		return c, cleanEnvError(err)
	}
	if len(c.Regions) == 0 {
		c.Regions = keyarn.DefaultRegions()
	}
	if c.Dev && len(c.WebhookHTTPHosts) == 0 {
		c.WebhookHTTPHosts = []string{devWebhookHost}
	}
	return c, c.validate()
}

// cleanEnvError turns the env library's first error into one that names the variable: its parse
// errors name the Go field instead.
func cleanEnvError(err error) error {
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe env.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("configuration: %v", err)
	}
	f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name)
	if !ok {
		return fmt.Errorf("configuration: %v", err)
	}
	return fmt.Errorf("configuration: %s: %v", f.Tag.Get("env"), pe.Err)
}

func (c *Config) validate() error {
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("configuration: %s: %s", name, fmt.Sprintf(format, args...))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return bad("CMEKD_ADDR", "%q is not a host:port listen address (like :8080 or 127.0.0.1:8080)", c.Addr)
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"CMEKD_KMS_TIMEOUT", c.KMSTimeout}, {"CMEKD_PROBE_INTERVAL", c.ProbeInterval},
		{"CMEKD_PAUSE_AFTER", c.PauseAfter}, {"CMEKD_DEK_CACHE_TTL", c.DEKCacheTTL}, {"CMEKD_DEK_MAX_AGE", c.DEKMaxAge},
	}
	for _, p := range positive {
		if p.d <= 0 {
			return bad(p.name, "must be a positive duration, got %s", p.d)
		}
	}
	if c.WebhookRetryBase <= 0 || c.WebhookRetryBase > time.Hour {
		return bad("CMEKD_WEBHOOK_RETRY_BASE", "must be a positive duration of at most 1h, got %s", c.WebhookRetryBase)
	}
	for i, h := range c.WebhookHTTPHosts {
		h = strings.TrimSpace(h)
		if !validHost(h) {
			return bad("CMEKD_WEBHOOK_HTTP_HOSTS", "%q is not a host as written in a URL (a comma-separated list like 127.0.0.1,receiver.internal,[::1]; no scheme, port or path)", h)
		}
		c.WebhookHTTPHosts[i] = h
	}
	if c.DEKCacheTTL > MaxDEKCacheTTL {
		return bad("CMEKD_DEK_CACHE_TTL", "must be at most %s: plaintext data keys may not outlive a revoked key longer, got %s", MaxDEKCacheTTL, c.DEKCacheTTL)
	}
	// NaN and infinity parse as floats; neither is a rate.
	if !(c.ProbeMaxRPS > 0) || math.IsInf(c.ProbeMaxRPS, 0) {
		return bad("CMEKD_PROBE_MAX_RPS", "must be a positive number, got %v", c.ProbeMaxRPS)
	}
	if c.DEKMaxDocuments <= 0 {
		return bad("CMEKD_DEK_MAX_DOCUMENTS", "must be positive, got %d", c.DEKMaxDocuments)
	}
	if c.KMSEndpoint != "" {
		u, err := url.Parse(c.KMSEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("CMEKD_KMS_ENDPOINT", "%q is not an http(s) URL", c.KMSEndpoint)
		}
	}
	if _, err := keyarn.ParseMultiRegionPolicy(c.MultiRegionKeys); err != nil {
		return bad("CMEKD_MULTI_REGION_KEYS", "must be required, allowed or rejected, got %q", c.MultiRegionKeys)
	}
	for i, r := range c.Regions {
		r = strings.TrimSpace(r)
		if !keyarn.ValidRegion(r) {
			return bad("CMEKD_REGIONS", "%q is not an AWS region name (a comma-separated list like us-east-1,eu-west-1)", r)
		}
		c.Regions[i] = r
	}
	if c.PlatformPrincipal != "" && !keypolicy.ValidPrincipal(c.PlatformPrincipal) {
		return bad("CMEKD_PLATFORM_PRINCIPAL", "%q is not an IAM principal ARN (arn:aws:iam::<account>:root or a role)", c.PlatformPrincipal)
	}
	if c.ProviderKeyARN != "" {
		a, err := keyarn.Parse(c.ProviderKeyARN)
		if err != nil {
			return bad("CMEKD_PROVIDER_KEY_ARN", "%v", err)
		}
		c.ProviderKeyARN = a.String()
	}
	if !c.Dev {
		if c.AdminToken == "" {
			return bad("CMEKD_ADMIN_TOKEN", "is required (outside dev mode)")
		}
		if c.PlatformPrincipal == "" {
			return bad("CMEKD_PLATFORM_PRINCIPAL", "is required (outside dev mode)")
		}
		if c.ProviderKeyARN == "" {
			return bad("CMEKD_PROVIDER_KEY_ARN", "is required (outside dev mode)")
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 32 {
		return bad("CMEKD_ADMIN_TOKEN", "must be at least 32 characters")
	}
	return nil
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
