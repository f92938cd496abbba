package kms_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

var encCtx = map[string]string{"cmekd:org": "org_test"}

// wantCode fails t unless err is a *kms.Error with code and action.
func wantCode(t *testing.T, err error, code, action string) *kms.Error {
	t.Helper()
	var kerr *kms.Error
	if !errors.As(err, &kerr) {
		t.Fatalf("error %v is not a *kms.Error; want %s", err, code)
	}
	if kerr.Code != code || kerr.Action != action {
		t.Errorf("got %s on %s (%v), want %s on %s", kerr.Code, kerr.Action, err, code, action)
	}
	return kerr
}

func TestNew_RejectsBadConfig(t *testing.T) {
	t.Parallel()
	creds := credentials.NewStaticCredentialsProvider("AKID", "secret", "")
	for _, tc := range []struct {
		name string
		cfg  kms.Config
	}{
		{"endpoint without scheme", kms.Config{Endpoint: "localhost:4566"}},
		{"endpoint not http", kms.Config{Endpoint: "ftp://localhost:4566"}},
		{"endpoint without host", kms.Config{Endpoint: "http://"}},
		{"negative timeout", kms.Config{Timeout: -time.Second}},
		{"negative attempts", kms.Config{MaxAttempts: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Credentials = creds
			if _, err := kms.New(t.Context(), tc.cfg); err == nil {
				t.Error("New accepted a bad configuration")
			}
		})
	}
}

func TestClient_SendsEachCallToTheRegionOfItsARN(t *testing.T) {
	t.Parallel()
	env := kmstest.StartEmulator(t)
	client := env.PlatformClient(t)
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2"}
	keys := map[string]string{}
	for _, region := range regions {
		keys[region] = env.CreateCustomerKey(t, region, kmstest.KeyOptions{})
	}
	for _, region := range regions {
		md, err := client.DescribeKey(t.Context(), keys[region])
		if err != nil {
			t.Fatalf("DescribeKey in %s: %v", region, err)
		}
		if md.ARN != keys[region] {
			t.Errorf("DescribeKey %s answered for %s", keys[region], md.ARN)
		}
		// The emulator keeps keys per region of the request's signature, so the same key id under
		// another region's ARN is found only if the call really went to that other region.
		elsewhere := strings.Replace(keys[region], ":"+region+":", ":sa-east-1:", 1)
		_, err = client.DescribeKey(t.Context(), elsewhere)
		wantCode(t, err, domain.CodeKeyNotFound, "kms:DescribeKey")
	}
}

func TestClient_RefusesNamesWithoutRegion(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no request expected", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	client := kmstest.Client(t, srv.URL, "AKID", kms.Config{})
	for _, name := range []string{
		"",
		"alias/customer-key",
		"1234abcd-12ab-34cd-56ef-1234567890ab",
		"mrk-1234abcd12ab34cd56ef1234567890ab",
		"arn:aws:s3:::bucket",
		"arn:aws:kms::111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:us-east-1.example.com:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:us-east-1:111122223333",
	} {
		_, _, err := client.GenerateDataKey(t.Context(), name, encCtx)
		wantCode(t, err, domain.CodeInvalidKeyARN, "kms:GenerateDataKey")
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached the endpoint", n)
	}
}

func TestClient_ReportsMetadataOfMultiRegionKeys(t *testing.T) {
	t.Parallel()
	env := kmstest.StartEmulator(t)
	keyARN := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{MultiRegion: true})
	md, err := env.PlatformClient(t).DescribeKey(t.Context(), keyARN)
	if err != nil {
		t.Fatal(err)
	}
	if !md.MultiRegion || !strings.HasPrefix(md.KeyID, "mrk-") || md.ARN != keyARN {
		t.Errorf("DescribeKey = %+v, want the multi-region key %s", md, keyARN)
	}
}

// TestClassify_RealResponses classifies what the emulator really answers, through the whole SDK stack.
func TestClassify_RealResponses(t *testing.T) {
	t.Parallel()
	env := kmstest.StartEmulator(t)
	platform := env.PlatformClient(t)
	ctx := t.Context()

	usable := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
	_, wrapped, err := platform.GenerateDataKey(ctx, usable, encCtx)
	if err != nil {
		t.Fatal(err)
	}
	other := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
	denied := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{DefaultPolicy: true})
	disabled := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
	env.DisableKey(t, disabled)
	deleted := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
	env.ScheduleDeletion(t, deleted)
	signing := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{
		KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	missing := strings.Replace(usable, usable[strings.LastIndex(usable, "/")+1:], "00000000-0000-4000-8000-000000000000", 1)

	for _, tc := range []struct {
		name   string
		call   func() error
		code   string
		action string
	}{
		{"policy denies DescribeKey", func() error { _, err := platform.DescribeKey(ctx, denied); return err },
			domain.CodeAccessDenied, "kms:DescribeKey"},
		{"policy denies GenerateDataKey", func() error { _, _, err := platform.GenerateDataKey(ctx, denied, encCtx); return err },
			domain.CodeAccessDenied, "kms:GenerateDataKey"},
		{"disabled", func() error { _, err := platform.Encrypt(ctx, disabled, []byte("x"), encCtx); return err },
			domain.CodeKeyDisabled, "kms:Encrypt"},
		{"pending deletion", func() error { _, _, err := platform.GenerateDataKey(ctx, deleted, encCtx); return err },
			domain.CodeKeyPendingDeletion, "kms:GenerateDataKey"},
		{"not found", func() error { _, err := platform.DescribeKey(ctx, missing); return err },
			domain.CodeKeyNotFound, "kms:DescribeKey"},
		{"signing key", func() error { _, _, err := platform.GenerateDataKey(ctx, signing, encCtx); return err },
			domain.CodeWrongKeyUsage, "kms:GenerateDataKey"},
		{"other context", func() error { _, err := platform.Decrypt(ctx, usable, wrapped, nil); return err },
			domain.CodeInvalidCiphertext, "kms:Decrypt"},
		{"garbage", func() error { _, err := platform.Decrypt(ctx, usable, bytes.Repeat([]byte{7}, 64), encCtx); return err },
			domain.CodeInvalidCiphertext, "kms:Decrypt"},
		{"other key", func() error { _, err := platform.Decrypt(ctx, other, wrapped, encCtx); return err },
			domain.CodeInvalidCiphertext, "kms:Decrypt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kerr := wantCode(t, tc.call(), tc.code, tc.action)
			if kerr.Transient() {
				t.Error("a refusal by KMS is not transient")
			}
		})
	}
}

// faults answers the first n requests with status and an AWS error of type errType, and passes the
// rest on. It counts every request it sees.
type faults struct {
	status   int
	errType  string
	n        atomic.Int32
	requests atomic.Int32
}

func (f *faults) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if f.n.Add(-1) < 0 {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(f.status)
		_, _ = fmt.Fprintf(w, `{"__type":%q,"message":"injected"}`, f.errType)
	})
}

func TestClient_RetriesTransientFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		status      int
		errType     string
		failures    int32
		maxAttempts int
		code        string // "" = success
		requests    int32
	}{
		{"throttled twice, third attempt succeeds", 400, "ThrottlingException", 2, 3, "", 3},
		{"503 twice, third attempt succeeds", 503, "ServiceUnavailableException", 2, 3, "", 3},
		{"500 once, second attempt succeeds", 500, "KMSInternalException", 1, 3, "", 2},
		{"throttled beyond the attempts", 400, "ThrottlingException", 5, 3, domain.CodeKMSUnavailable, 3},
		{"one attempt only", 503, "ServiceUnavailableException", 1, 1, domain.CodeKMSUnavailable, 1},
		{"refusals are not retried", 400, "AccessDeniedException", 1, 3, domain.CodeAccessDenied, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &faults{status: tc.status, errType: tc.errType}
			env := kmstest.StartEmulatorBehind(t, f.middleware)
			keyARN := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
			client := env.ClientWith(t, env.PlatformAccessKey, kms.Config{MaxAttempts: tc.maxAttempts, MaxBackoff: time.Millisecond})
			f.requests.Store(0)
			f.n.Store(tc.failures)

			_, _, err := client.GenerateDataKey(t.Context(), keyARN, encCtx)
			if tc.code == "" && err != nil {
				t.Errorf("GenerateDataKey: %v", err)
			}
			if tc.code != "" {
				wantCode(t, err, tc.code, "kms:GenerateDataKey")
			}
			if got := f.requests.Load(); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
		})
	}
}

func TestClient_TimeoutIsTransient(t *testing.T) {
	t.Parallel()
	// A KMS that never answers: the handler returns only when the client gives up.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	client := kmstest.Client(t, srv.URL, "AKID", kms.Config{Timeout: 50 * time.Millisecond})
	_, err := client.DescribeKey(t.Context(), "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
	kerr := wantCode(t, err, domain.CodeKMSUnavailable, "kms:DescribeKey")
	if !kerr.Transient() || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout = %v, want a transient error wrapping the deadline", err)
	}
}

func TestClient_CallerCancellationIsTransient(t *testing.T) {
	t.Parallel()
	env := kmstest.StartEmulator(t)
	keyARN := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := env.PlatformClient(t).GenerateDataKey(ctx, keyARN, encCtx)
	wantCode(t, err, domain.CodeKMSUnavailable, "kms:GenerateDataKey")
}

func TestNew_UsesTheStandardChainWithoutCredentials(t *testing.T) {
	env := kmstest.StartEmulator(t)
	t.Setenv("AWS_ACCESS_KEY_ID", env.PlatformAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	client, err := kms.New(t.Context(), kms.Config{Endpoint: env.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	// Only the platform principal is refused a default-policy key and admitted to a platform-policy key.
	admitted := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
	if _, err := client.DescribeKey(t.Context(), admitted); err != nil {
		t.Errorf("DescribeKey of a key admitting the platform: %v", err)
	}
	_, err = client.DescribeKey(t.Context(), env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{DefaultPolicy: true}))
	wantCode(t, err, domain.CodeAccessDenied, "kms:DescribeKey")
}

func TestClient_ConcurrentCallsAcrossRegions(t *testing.T) {
	t.Parallel()
	env := kmstest.StartEmulator(t)
	client := env.PlatformClient(t)
	var keys []string
	for _, region := range []string{"us-east-1", "us-west-2", "eu-central-1", "ap-northeast-1"} {
		keys = append(keys, env.CreateCustomerKey(t, region, kmstest.KeyOptions{}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 8 {
				keyARN := keys[(g+i)%len(keys)]
				plaintext, wrapped, err := client.GenerateDataKey(t.Context(), keyARN, encCtx)
				if err != nil {
					errs <- err
					return
				}
				got, err := client.Decrypt(t.Context(), keyARN, wrapped, encCtx)
				if err != nil || !bytes.Equal(got, plaintext) {
					errs <- fmt.Errorf("Decrypt under %s: %v", keyARN, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkClient_GenerateDataKeyDecrypt(b *testing.B) {
	env := kmstest.StartEmulator(b)
	keyARN := env.CreateCustomerKey(b, env.Region, kmstest.KeyOptions{})
	client := env.PlatformClient(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, wrapped, err := client.GenerateDataKey(ctx, keyARN, encCtx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := client.Decrypt(ctx, keyARN, wrapped, encCtx); err != nil {
			b.Fatal(err)
		}
	}
}
