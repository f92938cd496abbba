// Package kms is cmekd's client for AWS KMS (or anything that speaks its API: LocalStack, the cmekd
// emulator). It sends each call to the region named in the key ARN and classifies every failure into
// the verification probe's check codes, so callers never look at AWS types.
package kms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go/logging"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/domain"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxAttempts = retry.DefaultMaxAttempts
)

// Config configures the client.
type Config struct {
	// Endpoint overrides the KMS endpoint (CMEKD_KMS_ENDPOINT), an http(s) URL; "" means AWS.
	Endpoint string
	// Credentials of the platform's principal; nil means the standard chain (config.LoadDefaultConfig).
	Credentials aws.CredentialsProvider
	// Profile, when Credentials is nil, names the shared AWS config profile to take credentials from
	// (CMEKD_DATA_PROFILE for the data identity); "" means the standard chain's choice.
	Profile string
	// SharedConfigFiles and SharedCredentialsFiles replace the SDK's default shared files
	// (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE) when set.
	SharedConfigFiles, SharedCredentialsFiles []string
	// Clock tells the time grant tokens expire by; nil means the wall clock.
	Clock clock.Clock
	// Timeout bounds each call, retries included; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts for the SDK standard retryer (throttling, 5xx, network); 0 means DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff caps the delay between attempts; 0 keeps the SDK's (20s, jittered exponential).
	MaxBackoff time.Duration
	// Registerer receives the client's metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// HTTPClient sends the requests; nil means the SDK's default.
	HTTPClient *http.Client
	// Logger receives the SDK's own warnings as structured lines; nil means slog's default.
	Logger *slog.Logger
}

// Client calls KMS as the platform. It is safe for concurrent use.
type Client struct {
	aws     aws.Config
	cfg     Config
	metrics *metrics

	mu      sync.Mutex
	regions map[string]*awskms.Client
	// tokens are the grant tokens sent along with calls on a key (AddGrantToken).
	tokens grantTokens
}

// KeyMetadata is what DescribeKey reports about a key.
type KeyMetadata struct {
	// ARN is the key's ARN, also when it was described through an alias.
	ARN string
	// KeyID is the key id (a UUID, or mrk-… for a multi-region key).
	KeyID string
	// State is the KMS KeyState, like "Enabled", "Disabled" or "PendingDeletion".
	State string
	// Usage is the KMS KeyUsage, like "ENCRYPT_DECRYPT".
	Usage string
	// Spec is the KMS KeySpec, like "SYMMETRIC_DEFAULT".
	Spec string
	// Manager is "CUSTOMER" or "AWS".
	Manager string
	// MultiRegion reports whether the key is a multi-region primary or replica.
	MultiRegion bool
	// MultiRegionKeyType is "PRIMARY" or "REPLICA" for a multi-region key, "" otherwise.
	MultiRegionKeyType string
	// PrimaryARN is the ARN of a multi-region key's primary key (itself for the primary); "" otherwise.
	PrimaryARN string
}

// New returns a client. It loads the standard AWS configuration only when cfg.Credentials is nil.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("kms: endpoint %q is not an http(s) URL", cfg.Endpoint)
		}
	}
	if cfg.Timeout < 0 || cfg.MaxAttempts < 0 || cfg.MaxBackoff < 0 {
		return nil, fmt.Errorf("kms: timeout, attempts and backoff must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	var awsCfg aws.Config
	logger := sdkLogger(cfg.Logger)
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Credentials == nil {
		opts := []func(*config.LoadOptions) error{config.WithLogger(logger)}
		if cfg.Profile != "" {
			opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
		}
		if cfg.SharedConfigFiles != nil {
			opts = append(opts, config.WithSharedConfigFiles(cfg.SharedConfigFiles))
		}
		if cfg.SharedCredentialsFiles != nil {
			opts = append(opts, config.WithSharedCredentialsFiles(cfg.SharedCredentialsFiles))
		}
		var err error
		if awsCfg, err = config.LoadDefaultConfig(ctx, opts...); err != nil {
			return nil, fmt.Errorf("kms: loading AWS configuration: %w", err)
		}
	} else {
		awsCfg.Credentials = cfg.Credentials
		if !aws.IsCredentialsProvider(cfg.Credentials, (*aws.CredentialsCache)(nil)) {
			// Region clients share one cache so that a role's credentials are fetched once.
			awsCfg.Credentials = aws.NewCredentialsCache(cfg.Credentials)
		}
	}
	awsCfg.Logger = logger
	if cfg.HTTPClient == nil {
		// The SDK keeps 10 idle connections per host; the health monitor runs more probes than that at
		// once, and each connection beyond the pool would cost a new TLS handshake.
		awsCfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = idleConnsPerHost
		})
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Client{aws: awsCfg, cfg: cfg, metrics: m, regions: map[string]*awskms.Client{}}, nil
}

// sdkLogger sends the SDK's log lines (credential and checksum warnings, say) through slog, so that
// the server's log stays one JSON object per line.
func sdkLogger(log *slog.Logger) logging.Logger {
	if log == nil {
		log = slog.Default()
	}
	return logging.LoggerFunc(func(classification logging.Classification, format string, v ...any) {
		level := slog.LevelInfo
		if classification == logging.Warn {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "aws-sdk")
	})
}

// now is the client's clock.
func (c *Client) now() time.Time { return c.cfg.Clock.Now() }

// idleConnsPerHost is how many idle connections to each regional endpoint are kept for reuse.
const idleConnsPerHost = 64

// regionPattern matches AWS region names. The region ends up in the endpoint's host name, so nothing
// else may pass.
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// forKey returns the SDK client for the region named in keyARN (a key or alias ARN).
func (c *Client) forKey(action, keyARN string) (*awskms.Client, *Error) {
	a, err := arn.Parse(keyARN)
	if err != nil || a.Service != "kms" || a.Partition == "" || a.AccountID == "" || a.Resource == "" ||
		!regionPattern.MatchString(a.Region) {
		return nil, &Error{Code: domain.CodeInvalidKeyARN, Action: action, Err: err,
			Message: fmt.Sprintf("%q is not a KMS key ARN that names a region", keyARN)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if client, ok := c.regions[a.Region]; ok {
		return client, nil
	}
	client := awskms.NewFromConfig(c.aws, func(o *awskms.Options) {
		o.Region = a.Region
		if c.cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.cfg.Endpoint)
		}
		if c.cfg.HTTPClient != nil {
			o.HTTPClient = c.cfg.HTTPClient
		}
		// One retryer per region: its retry quota drains during an outage of that region only.
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = c.cfg.MaxAttempts
			if c.cfg.MaxBackoff > 0 {
				so.MaxBackoff = c.cfg.MaxBackoff
			}
		})
		// AWS_MAX_ATTEMPTS from the environment would otherwise override MaxAttempts.
		o.RetryMaxAttempts = 0
	})
	c.regions[a.Region] = client
	return client, nil
}

// call runs one KMS operation, the client method op with input in, on the region client of keyARN
// under the per-call timeout, and classifies and counts its outcome.
func call[In, Out any](ctx context.Context, c *Client, op, keyARN string,
	method func(*awskms.Client, context.Context, *In, ...func(*awskms.Options)) (*Out, error), in *In) (*Out, error) {
	start := time.Now()
	action := "kms:" + op
	var out *Out
	client, kerr := c.forKey(action, keyARN)
	if kerr == nil {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
		var err error
		out, err = method(client, ctx, in)
		kerr = Classify(action, err)
	}
	c.metrics.observe(op, start, kerr)
	if kerr != nil {
		return out, kerr
	}
	return out, nil
}

// DescribeKey describes the key named by keyARN (a key or alias ARN).
func (c *Client) DescribeKey(ctx context.Context, keyARN string) (KeyMetadata, error) {
	out, err := call(ctx, c, "DescribeKey", keyARN, (*awskms.Client).DescribeKey,
		&awskms.DescribeKeyInput{KeyId: aws.String(keyARN), GrantTokens: c.tokens.of(keyARN, c.now())})
	if err != nil {
		return KeyMetadata{}, err
	}
	md := out.KeyMetadata
	if md == nil {
		return KeyMetadata{}, &Error{Code: domain.CodeKMSError, Action: "kms:DescribeKey",
			Message: "DescribeKey answered without key metadata"}
	}
	meta := KeyMetadata{
		ARN:         aws.ToString(md.Arn),
		KeyID:       aws.ToString(md.KeyId),
		State:       string(md.KeyState),
		Usage:       string(md.KeyUsage),
		Spec:        string(md.KeySpec),
		Manager:     string(md.KeyManager),
		MultiRegion: aws.ToBool(md.MultiRegion),
	}
	if mr := md.MultiRegionConfiguration; mr != nil {
		meta.MultiRegionKeyType = string(mr.MultiRegionKeyType)
		if mr.PrimaryKey != nil {
			meta.PrimaryARN = aws.ToString(mr.PrimaryKey.Arn)
		}
	}
	return meta, nil
}

// ReEncrypt re-wraps a ciphertext blob made under fromARN with fromCtx as a blob of toARN with toCtx,
// inside KMS: the plaintext never leaves it. A refusal names the action refused, kms:ReEncryptFrom
// (the source key) or kms:ReEncryptTo (the destination key).
func (c *Client) ReEncrypt(ctx context.Context, fromARN string, wrapped []byte, fromCtx map[string]string,
	toARN string, toCtx map[string]string) ([]byte, error) {
	out, err := call(ctx, c, "ReEncrypt", toARN, (*awskms.Client).ReEncrypt, &awskms.ReEncryptInput{
		SourceKeyId:                  aws.String(fromARN),
		CiphertextBlob:               wrapped,
		SourceEncryptionContext:      fromCtx,
		DestinationKeyId:             aws.String(toARN),
		DestinationEncryptionContext: toCtx,
		GrantTokens:                  c.tokens.of2(fromARN, toARN, c.now()),
	})
	if err != nil {
		var ke *Error
		if errors.As(err, &ke) && ke.Action == "kms:ReEncrypt" {
			ke.Action = reEncryptAction(ke.Message)
		}
		return nil, err
	}
	return out.CiphertextBlob, nil
}

// refusedAction finds the action an AccessDeniedException names ("… not authorized to perform:
// kms:ReEncryptTo on resource …").
var refusedAction = regexp.MustCompile(`perform: (kms:ReEncrypt(?:From|To))\b`)

// reEncryptAction is the half of ReEncrypt a refusal is about; the source's when KMS does not say.
func reEncryptAction(message string) string {
	if m := refusedAction.FindStringSubmatch(message); m != nil {
		return m[1]
	}
	return "kms:ReEncryptFrom"
}

// GenerateDataKey makes an AES-256 data key under keyARN bound to encCtx and returns it in plaintext
// and wrapped (the ciphertext blob to store).
func (c *Client) GenerateDataKey(ctx context.Context, keyARN string, encCtx map[string]string) (plaintext, wrapped []byte, err error) {
	out, err := call(ctx, c, "GenerateDataKey", keyARN, (*awskms.Client).GenerateDataKey, &awskms.GenerateDataKeyInput{
		KeyId: aws.String(keyARN), KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx, GrantTokens: c.tokens.of(keyARN, c.now())})
	if err != nil {
		return nil, nil, err
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

// Decrypt unwraps a ciphertext blob made under keyARN with encCtx. KMS is told the key, so a blob made
// under any other key fails with domain.CodeInvalidCiphertext instead of being decrypted by that key.
func (c *Client) Decrypt(ctx context.Context, keyARN string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	out, err := call(ctx, c, "Decrypt", keyARN, (*awskms.Client).Decrypt, &awskms.DecryptInput{
		KeyId: aws.String(keyARN), CiphertextBlob: wrapped, EncryptionContext: encCtx, GrantTokens: c.tokens.of(keyARN, c.now())})
	if err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}

// Encrypt encrypts a small plaintext (at most 4 KiB) under keyARN bound to encCtx.
func (c *Client) Encrypt(ctx context.Context, keyARN string, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	out, err := call(ctx, c, "Encrypt", keyARN, (*awskms.Client).Encrypt, &awskms.EncryptInput{
		KeyId: aws.String(keyARN), Plaintext: plaintext, EncryptionContext: encCtx, GrantTokens: c.tokens.of(keyARN, c.now())})
	if err != nil {
		return nil, err
	}
	return out.CiphertextBlob, nil
}
