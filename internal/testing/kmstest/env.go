// Package kmstest starts KMS endpoints for tests and holds the conformance suite that every KMS
// implementation cmekd runs against (the emulator, LocalStack, AWS) must pass.
package kmstest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	awsemu "github.com/cmekd/cmekd/emulator/aws"
	"github.com/cmekd/cmekd/internal/kms"
)

// Identities of the emulator started by StartEmulator.
const (
	// EmulatorAccount owns the emulator's keys; its root is the customer.
	EmulatorAccount = "111122223333"
	// EmulatorRegion is the Env's home region.
	EmulatorRegion = "us-east-1"
	// PlatformPrincipal is the platform's principal, in an account of its own.
	PlatformPrincipal = "arn:aws:iam::999988887777:root"
	// PlatformAccessKey is the access key id the emulator maps to PlatformPrincipal.
	PlatformAccessKey = "AKIACMEKDPLATFORM001"
	// CustomerAccessKey is an unmapped access key id, so the emulator treats it as its account's root.
	CustomerAccessKey = "AKIACMEKDCUSTOMER001"
	// ControlPrincipal and DataPrincipal are the platform's two identities in grant mode:
	// roles, since an account root would admit the one to the other's statements.
	ControlPrincipal = "arn:aws:iam::999988887777:role/cmekd-control"
	DataPrincipal    = "arn:aws:iam::999988887777:role/cmekd-data"
	// ControlAccessKey and DataAccessKey are the access key ids the emulator maps to them.
	ControlAccessKey = "AKIACMEKDCONTROL0001"
	DataAccessKey    = "AKIACMEKDDATA0000001"
)

// dummySecret signs requests to endpoints that check no signatures (the emulator, LocalStack).
const dummySecret = "kmstest-not-a-secret"

// Env is a KMS endpoint under test with principals to act as.
type Env struct {
	// Endpoint is the KMS endpoint URL; "" means AWS's own endpoints.
	Endpoint string
	// Account owns the customer's keys.
	Account string
	// Region is where tests create keys unless they need another.
	Region string
	// PlatformPrincipal is the ARN the platform acts as; key policies name it.
	PlatformPrincipal string
	// PlatformAccessKey is the access key id of PlatformPrincipal.
	PlatformAccessKey string
	// CustomerAccessKey is the access key id of the key owner (an administrator of Account).
	CustomerAccessKey string
	// EnforcesPolicies says the target enforces key policies and grants; policy tests then must not skip.
	EnforcesPolicies bool

	// credentials answer for access keys; an access key without an entry signs with dummySecret.
	credentials map[string]aws.CredentialsProvider
	// frozen is set only when the Env fronts an emulator, which Freeze can take down.
	frozen *atomic.Bool
	// persistent means keys outlive the test (a real account), so tests schedule their deletion,
	// and state changes are only eventually consistent.
	persistent bool

	mu   sync.Mutex
	sdks map[sdkKey]*awskms.Client

	capsOnce sync.Once
	caps     *capabilities
}

// sdkKey names a cached raw SDK client.
type sdkKey struct{ region, accessKey string }

// KeyOptions shapes a key made by CreateCustomerKey.
type KeyOptions struct {
	// MultiRegion makes a multi-region primary key (mrk-…).
	MultiRegion bool
	// Policy is the key policy; "" means one that admits the platform (see PlatformPolicy).
	Policy string
	// DefaultPolicy leaves the key with KMS's default policy (only its own account); Policy is ignored.
	DefaultPolicy bool
	// KeySpec defaults to SYMMETRIC_DEFAULT.
	KeySpec types.KeySpec
	// KeyUsage defaults to ENCRYPT_DECRYPT.
	KeyUsage types.KeyUsageType
}

// StartEmulator serves a fresh emulator over real HTTP for the duration of the test. The platform acts
// as PlatformPrincipal, the customer as the root of EmulatorAccount.
func StartEmulator(t testing.TB) *Env {
	t.Helper()
	return StartEmulatorBehind(t, nil)
}

// StartEmulatorBehind is StartEmulator with middleware (when not nil) in front of the emulator, for
// tests that inject faults of their own.
func StartEmulatorBehind(t testing.TB, middleware func(http.Handler) http.Handler) *Env {
	t.Helper()
	return startEmulator(t, middleware, 0)
}

// startEmulator is StartEmulatorBehind with a replica delay (awsemu.Options.ReplicaDelay); the
// exported starters use none, so that callers who replicate need not wait.
func startEmulator(t testing.TB, middleware func(http.Handler) http.Handler, replicaDelay time.Duration) *Env {
	t.Helper()
	var h http.Handler = awsemu.New(awsemu.Options{
		Account: EmulatorAccount,
		Principals: map[string]string{PlatformAccessKey: PlatformPrincipal,
			ControlAccessKey: ControlPrincipal, DataAccessKey: DataPrincipal},
		ReplicaDelay: replicaDelay,
	})
	if middleware != nil {
		h = middleware(h)
	}
	frozen := new(atomic.Bool)
	srv := httptest.NewServer(freezable(h, frozen))
	t.Cleanup(srv.Close)
	return &Env{
		Endpoint:          srv.URL,
		Account:           EmulatorAccount,
		Region:            EmulatorRegion,
		PlatformPrincipal: PlatformPrincipal,
		PlatformAccessKey: PlatformAccessKey,
		CustomerAccessKey: CustomerAccessKey,
		EnforcesPolicies:  true,
		frozen:            frozen,
	}
}

// freezable answers every request with a 503 while frozen is set, the way KMS answers during an outage.
func freezable(next http.Handler, frozen *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !frozen.Load() {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"__type":"ServiceUnavailableException","message":"kmstest: the endpoint is frozen"}`)
	})
}

// Freeze makes every request fail with HTTP 503 ServiceUnavailableException until Unfreeze, so callers
// see a transient outage. It affects the whole endpoint. Only an Env from StartEmulator can freeze.
func (e *Env) Freeze() { e.mustFreezable().Store(true) }

// Unfreeze ends Freeze.
func (e *Env) Unfreeze() { e.mustFreezable().Store(false) }

// mustFreezable returns the freeze switch; calling Freeze on another Env is a bug in the test.
func (e *Env) mustFreezable() *atomic.Bool {
	if e.frozen == nil {
		panic("kmstest: only an Env from StartEmulator can be frozen")
	}
	return e.frozen
}

// provider returns the credentials of accessKey.
func (e *Env) provider(accessKey string) aws.CredentialsProvider {
	if p, ok := e.credentials[accessKey]; ok {
		return p
	}
	return credentials.NewStaticCredentialsProvider(accessKey, dummySecret, "")
}

// SDK returns a raw SDK client acting as accessKey in region, for what cmekd itself never does
// (creating, disabling, deleting keys, grants, aliases).
func (e *Env) SDK(t testing.TB, region, accessKey string) *awskms.Client {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	k := sdkKey{region: region, accessKey: accessKey}
	if c, ok := e.sdks[k]; ok {
		return c
	}
	opts := awskms.Options{Region: region, Credentials: aws.NewCredentialsCache(e.provider(accessKey))}
	if e.Endpoint != "" {
		opts.BaseEndpoint = aws.String(e.Endpoint)
	}
	c := awskms.New(opts)
	if e.sdks == nil {
		e.sdks = map[sdkKey]*awskms.Client{}
	}
	e.sdks[k] = c
	return c
}

// PlatformClient returns a new cmekd client acting as the platform. Its retries wait only
// milliseconds, so outages are quick to observe.
func (e *Env) PlatformClient(t testing.TB) *kms.Client {
	t.Helper()
	return e.ClientAs(t, e.PlatformAccessKey)
}

// ClientAs returns a new cmekd client acting as accessKey, with the quick retries of PlatformClient.
func (e *Env) ClientAs(t testing.TB, accessKey string) *kms.Client {
	t.Helper()
	return e.ClientWith(t, accessKey, kms.Config{MaxBackoff: 10 * time.Millisecond})
}

// ClientWith returns a new cmekd client acting as accessKey, configured by cfg but for its endpoint
// and credentials, which are the Env's.
func (e *Env) ClientWith(t testing.TB, accessKey string, cfg kms.Config) *kms.Client {
	t.Helper()
	cfg.Endpoint, cfg.Credentials = e.Endpoint, e.provider(accessKey)
	return newClient(t, cfg, accessKey)
}

// Client returns a new cmekd client for endpoint, configured by cfg, that signs as accessKey with a
// dummy secret: for endpoints that check no signatures and are no Env (a stub server, a closed port).
func Client(t testing.TB, endpoint, accessKey string, cfg kms.Config) *kms.Client {
	t.Helper()
	cfg.Endpoint, cfg.Credentials = endpoint, credentials.NewStaticCredentialsProvider(accessKey, dummySecret, "")
	return newClient(t, cfg, accessKey)
}

func newClient(t testing.TB, cfg kms.Config, accessKey string) *kms.Client {
	t.Helper()
	c, err := kms.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("kmstest: client as %s: %v", accessKey, err)
	}
	return c
}

// PlatformPolicy is a key policy that gives the owner account's root every action and lets the
// platform use the key (the generated key-policy statement).
func (e *Env) PlatformPolicy() string {
	type statement struct {
		Sid       string
		Effect    string
		Principal map[string]string
		Action    any
		Resource  string
	}
	policy := struct {
		Version   string
		Statement []statement
	}{
		Version: "2012-10-17",
		Statement: []statement{
			{Sid: "KeyOwner", Effect: "Allow", Principal: map[string]string{"AWS": "arn:aws:iam::" + e.Account + ":root"},
				Action: "kms:*", Resource: "*"},
			{Sid: "CmekdPlatformUse", Effect: "Allow", Principal: map[string]string{"AWS": e.PlatformPrincipal},
				Action:   []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"},
				Resource: "*"},
		},
	}
	b, err := json.Marshal(policy)
	if err != nil {
		panic(err) // a static structure of strings always marshals
	}
	return string(b)
}

// CreateCustomerKey creates a key as the customer in region and returns its ARN. Keys in a real
// account are scheduled for deletion when the test ends.
func (e *Env) CreateCustomerKey(t testing.TB, region string, opt KeyOptions) string {
	t.Helper()
	in := &awskms.CreateKeyInput{
		Description: aws.String("cmekd test key"),
		MultiRegion: aws.Bool(opt.MultiRegion),
		KeySpec:     opt.KeySpec,
		KeyUsage:    opt.KeyUsage,
	}
	if !opt.DefaultPolicy {
		in.Policy = aws.String(opt.Policy)
		if opt.Policy == "" {
			in.Policy = aws.String(e.PlatformPolicy())
		}
	}
	out, err := e.SDK(t, region, e.CustomerAccessKey).CreateKey(context.Background(), in)
	if err != nil {
		t.Fatalf("kmstest: CreateKey in %s: %v", region, err)
	}
	keyARN := aws.ToString(out.KeyMetadata.Arn)
	e.cleanupKey(t, region, keyARN)
	return keyARN
}

// cleanupKey schedules the deletion of a key in a real account when the test ends. Keys of an
// emulator or LocalStack vanish with it.
func (e *Env) cleanupKey(t testing.TB, region, keyARN string) {
	if !e.persistent {
		return
	}
	t.Cleanup(func() {
		// Failure is fine: the test may have scheduled the deletion itself.
		_, _ = e.SDK(t, region, e.CustomerAccessKey).ScheduleKeyDeletion(context.Background(),
			&awskms.ScheduleKeyDeletionInput{KeyId: aws.String(keyARN), PendingWindowInDays: aws.Int32(7)})
	})
}
