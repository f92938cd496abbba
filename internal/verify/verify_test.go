package verify_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/cmekd/cmekd/internal/verify"
)

var regions = []string{"us-east-1", "us-west-2"}

// summary renders a report's checks in order: a name alone passed, name=code failed (with the KMS
// action in brackets when there is one).
func summary(r verify.Report) string {
	var parts []string
	for _, c := range r.Checks {
		switch {
		case c.OK:
			parts = append(parts, c.Name)
		case c.Action != "":
			parts = append(parts, fmt.Sprintf("%s=%s(%s)", c.Name, c.Code, c.Action))
		default:
			parts = append(parts, c.Name+"="+c.Code)
		}
	}
	return strings.Join(parts, " ")
}

const (
	allOK    = "arn describe_key key_state key_usage key_spec key_manager multi_region generate_data_key decrypt re_encrypt encrypt"
	healthOK = "arn describe_key key_state key_usage key_spec key_manager multi_region generate_data_key decrypt"
	argSkip  = "describe_key=skipped key_state=skipped key_usage=skipped key_spec=skipped key_manager=skipped multi_region=skipped generate_data_key=skipped decrypt=skipped"
)

// policyAllowing lets the platform call only actions on the key.
func policyAllowing(env *kmstest.Env, actions ...string) string {
	return policyAllowingPrincipal(env, env.PlatformPrincipal, actions...)
}

// policyAllowingPrincipal lets principal call only actions on the key.
func policyAllowingPrincipal(env *kmstest.Env, principal string, actions ...string) string {
	list, _ := json.Marshal(actions)
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},
{"Effect":"Allow","Principal":{"AWS":%q},"Action":%s,"Resource":"*"}]}`, env.Account, principal, list)
}

func TestVerify_ChecksInOrder(t *testing.T) {
	t.Parallel()
	env := kmstest.StartEmulator(t)
	platform := env.PlatformClient(t)
	key := func(opt kmstest.KeyOptions) func(*testing.T) string {
		return func(t *testing.T) string { return env.CreateCustomerKey(t, env.Region, opt) }
	}
	disabled := func(t *testing.T) string {
		arn := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
		env.DisableKey(t, arn)
		return arn
	}
	pendingDeletion := func(t *testing.T) string {
		arn := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
		env.ScheduleDeletion(t, arn)
		return arn
	}
	awsManaged := func(t *testing.T) string {
		return env.KeyARN(t, "alias/aws/cmekd-test")
	}
	fixed := func(s string) func(*testing.T) string { return func(*testing.T) string { return s } }
	unknown := fmt.Sprintf("arn:aws:kms:%s:%s:key/0b7d4d6e-0000-4000-8000-000000000000", env.Region, env.Account)

	for _, tc := range []struct {
		name   string
		key    func(*testing.T) string
		policy keyarn.MultiRegionPolicy
		region string
		steps  verify.Steps
		want   string
	}{
		{name: "a good key", key: key(kmstest.KeyOptions{}), want: allOK},
		{name: "a good key in its link region", key: key(kmstest.KeyOptions{}), region: env.Region, want: allOK},
		{name: "a disabled key", key: disabled,
			want: "arn describe_key key_state=key_disabled key_usage key_spec key_manager multi_region generate_data_key=skipped decrypt=skipped re_encrypt=skipped encrypt=skipped"},
		{name: "a key pending deletion", key: pendingDeletion,
			want: "arn describe_key key_state=key_pending_deletion key_usage key_spec key_manager multi_region generate_data_key=skipped decrypt=skipped re_encrypt=skipped encrypt=skipped"},
		{name: "a policy without the platform", key: key(kmstest.KeyOptions{DefaultPolicy: true}),
			want: "arn describe_key=access_denied(kms:DescribeKey) key_state=skipped key_usage=skipped key_spec=skipped key_manager=skipped multi_region=skipped generate_data_key=skipped decrypt=skipped re_encrypt=skipped encrypt=skipped"},
		{name: "a policy that lets the platform only describe", key: key(kmstest.KeyOptions{Policy: policyAllowing(env, "kms:DescribeKey")}),
			want: "arn describe_key key_state key_usage key_spec key_manager multi_region generate_data_key=access_denied(kms:GenerateDataKey) decrypt=skipped re_encrypt=skipped encrypt=access_denied(kms:Encrypt)"},
		{name: "a policy without Decrypt", key: key(kmstest.KeyOptions{Policy: policyAllowing(env, "kms:DescribeKey", "kms:GenerateDataKey", "kms:Encrypt")}),
			want: "arn describe_key key_state key_usage key_spec key_manager multi_region generate_data_key decrypt=access_denied(kms:Decrypt) re_encrypt=access_denied(kms:ReEncryptFrom) encrypt"},
		{name: "a policy without ReEncrypt", key: key(kmstest.KeyOptions{Policy: policyAllowing(env, "kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt")}),
			want: "arn describe_key key_state key_usage key_spec key_manager multi_region generate_data_key decrypt re_encrypt=access_denied(kms:ReEncryptFrom) encrypt"},
		{name: "a policy with ReEncryptFrom only", key: key(kmstest.KeyOptions{Policy: policyAllowing(env, "kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt", "kms:ReEncryptFrom", "kms:Encrypt")}),
			want: "arn describe_key key_state key_usage key_spec key_manager multi_region generate_data_key decrypt re_encrypt=access_denied(kms:ReEncryptTo) encrypt"},
		{name: "an AWS-managed key", key: awsManaged,
			want: "arn describe_key key_state key_usage key_spec key_manager=aws_managed_key multi_region generate_data_key=skipped decrypt=skipped re_encrypt=skipped encrypt=skipped"},
		{name: "an asymmetric encryption key", key: key(kmstest.KeyOptions{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt}),
			want: "arn describe_key key_state key_usage key_spec=wrong_key_spec key_manager multi_region generate_data_key=skipped decrypt=skipped re_encrypt=skipped encrypt=skipped"},
		{name: "an HMAC key", key: key(kmstest.KeyOptions{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac}),
			want: "arn describe_key key_state key_usage=wrong_key_usage key_spec=wrong_key_spec key_manager multi_region generate_data_key=skipped decrypt=skipped re_encrypt=skipped encrypt=skipped"},
		{name: "an unknown key", key: fixed(unknown),
			want: "arn describe_key=key_not_found(kms:DescribeKey) key_state=skipped key_usage=skipped key_spec=skipped key_manager=skipped multi_region=skipped generate_data_key=skipped decrypt=skipped re_encrypt=skipped encrypt=skipped"},
		{name: "multi-region required, single-region key", key: key(kmstest.KeyOptions{}), policy: keyarn.MultiRegionRequired,
			want: "arn=multi_region_key_required " + argSkip + " re_encrypt=skipped encrypt=skipped"},
		{name: "multi-region required, multi-region key", key: key(kmstest.KeyOptions{MultiRegion: true}), policy: keyarn.MultiRegionRequired, want: allOK},
		{name: "multi-region rejected, multi-region key", key: key(kmstest.KeyOptions{MultiRegion: true}), policy: keyarn.MultiRegionRejected,
			want: "arn=multi_region_key_not_supported " + argSkip + " re_encrypt=skipped encrypt=skipped"},
		{name: "multi-region rejected, single-region key", key: key(kmstest.KeyOptions{}), policy: keyarn.MultiRegionRejected, want: allOK},
		{name: "an invalid ARN", key: fixed("not-an-arn"), want: "arn=invalid_key_arn " + argSkip + " re_encrypt=skipped encrypt=skipped"},
		{name: "an alias ARN", key: fixed("arn:aws:kms:us-east-1:111122223333:alias/mine"), want: "arn=alias_not_supported " + argSkip + " re_encrypt=skipped encrypt=skipped"},
		{name: "a key of another region than its link", key: key(kmstest.KeyOptions{}), region: "us-west-2",
			want: "arn=key_region_mismatch " + argSkip + " re_encrypt=skipped encrypt=skipped"},
		{name: "a region the deployment does not serve", key: fixed("arn:aws:kms:eu-west-1:111122223333:key/0b7d4d6e-0000-4000-8000-000000000000"),
			want: "arn=unsupported_region " + argSkip + " re_encrypt=skipped encrypt=skipped"},

		{name: "health of a good key", key: key(kmstest.KeyOptions{}), steps: verify.Health, want: healthOK},
		{name: "health of a disabled key", key: disabled, steps: verify.Health,
			want: "arn describe_key key_state=key_disabled key_usage key_spec key_manager multi_region generate_data_key=skipped decrypt=skipped"},
		{name: "health of a key linked before multi-region keys were rejected", key: key(kmstest.KeyOptions{MultiRegion: true}),
			policy: keyarn.MultiRegionRejected, steps: verify.Health, want: healthOK},
		{name: "health of a key of a region no longer served", steps: verify.Health, want: healthOK,
			key: func(t *testing.T) string { return env.CreateCustomerKey(t, "eu-west-1", kmstest.KeyOptions{}) }},
		{name: "health of an unknown key", key: fixed(unknown), steps: verify.Health,
			want: "arn describe_key=key_not_found(kms:DescribeKey) key_state=skipped key_usage=skipped key_spec=skipped key_manager=skipped multi_region=skipped generate_data_key=skipped decrypt=skipped"},
		{name: "health of an invalid ARN", key: fixed("arn:aws:kms:us-east-1:111122223333:key/"), steps: verify.Health,
			want: "arn=invalid_key_arn " + argSkip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := verify.New(platform, keyarn.Rules{Regions: regions, MultiRegion: cmpOr(tc.policy, keyarn.MultiRegionAllowed)},
				verify.Options{Backoff: []time.Duration{}})
			input := tc.key(t)
			r := v.Verify(t.Context(), input, tc.region, "org_verify", tc.steps)
			if got := summary(r); got != tc.want {
				t.Errorf("checks\n got %s\nwant %s", got, tc.want)
			}
			if r.OK() != (tc.want == allOK || tc.want == healthOK) {
				t.Errorf("OK = %t", r.OK())
			}
			if r.Transient() {
				t.Error("a judged key reported as transient")
			}
			for _, c := range r.Checks {
				if !c.OK && c.Message == "" {
					t.Errorf("check %s failed without a message", c.Name)
				}
			}
			if tc.want == allOK && r.KeyARN != strings.TrimSpace(input) {
				t.Errorf("KeyARN = %q, want %q", r.KeyARN, input)
			}
		})
	}
}

func cmpOr(p, def keyarn.MultiRegionPolicy) keyarn.MultiRegionPolicy {
	if p == "" {
		return def
	}
	return p
}

func TestVerify_AccessDeniedAdviceNamesTheAction(t *testing.T) {
	t.Parallel()
	env := kmstest.StartEmulator(t)
	v := verify.New(env.PlatformClient(t), keyarn.Rules{Regions: regions}, verify.Options{Backoff: []time.Duration{}})
	r := v.Verify(t.Context(), env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{DefaultPolicy: true}), "", verify.OnboardingContext, verify.Full)
	c, ok := r.FirstFailure()
	if !ok || c.Name != verify.CheckDescribeKey || !strings.Contains(c.Message, "kms:DescribeKey") || !strings.Contains(c.Message, "/v1/key-policy") {
		t.Fatalf("first failure %+v, want access denied advice naming kms:DescribeKey and the policy route", c)
	}
}

// closedEndpoint is the URL of a port nothing listens on.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	return "http://" + testkit.FreeAddr(t)
}

func platformAt(t *testing.T, endpoint string) *kms.Client {
	t.Helper()
	return kmstest.Client(t, endpoint, kmstest.PlatformAccessKey, kms.Config{MaxAttempts: 1, Timeout: 2 * time.Second})
}

func TestVerify_UnreachableKMSIsTransient(t *testing.T) {
	t.Parallel()
	v := verify.New(platformAt(t, closedEndpoint(t)), keyarn.Rules{Regions: regions}, verify.Options{Backoff: []time.Duration{time.Millisecond}})
	keyARN := "arn:aws:kms:us-east-1:111122223333:key/0b7d4d6e-0000-4000-8000-000000000000"
	for _, steps := range []verify.Steps{verify.Full, verify.Health} {
		r := v.Verify(t.Context(), keyARN, "", "org_x", steps)
		if r.OK() || !r.Transient() {
			t.Fatalf("OK %t, Transient %t; want a transient failure", r.OK(), r.Transient())
		}
		c, _ := r.FirstFailure()
		if c.Name != verify.CheckDescribeKey || c.Code != domain.CodeKMSUnavailable || c.Action != "kms:DescribeKey" {
			t.Fatalf("first failure %+v, want describe_key kms_unavailable", c)
		}
	}
}

// TestVerify_RetriesTransientFailures: a 503 that clears before the next attempt does not fail the
// check; without backoff it does, and is reported transient.
func TestVerify_RetriesTransientFailures(t *testing.T) {
	t.Parallel()
	var failNext atomic.Int32
	env := kmstest.StartEmulatorBehind(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failNext.Add(-1) >= 0 {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, `{"__type":"ServiceUnavailableException","message":"try again"}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	keyARN := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{})
	client := platformAt(t, env.Endpoint) // one attempt per call: the verifier's backoff is what retries

	failNext.Store(1)
	retrying := verify.New(client, keyarn.Rules{Regions: regions}, verify.Options{Backoff: []time.Duration{time.Millisecond}})
	if r := retrying.Verify(t.Context(), keyARN, "", "org_x", verify.Full); summary(r) != allOK {
		t.Fatalf("with backoff: %s", summary(r))
	}
	failNext.Store(1)
	once := verify.New(client, keyarn.Rules{Regions: regions}, verify.Options{Backoff: []time.Duration{}})
	r := once.Verify(t.Context(), keyARN, "", "org_x", verify.Full)
	if !strings.HasPrefix(summary(r), "arn describe_key=kms_unavailable(kms:DescribeKey) key_state=skipped") || !r.Transient() {
		t.Fatalf("without backoff: %s, transient %t", summary(r), r.Transient())
	}
}

func TestReport_Judgement(t *testing.T) {
	t.Parallel()
	ok := domain.Check{Name: "a", OK: true}
	skipped := domain.Check{Name: "s", Code: domain.CodeSkipped}
	down := domain.Check{Name: "d", Code: domain.CodeKMSUnavailable}
	kmsErr := domain.Check{Name: "e", Code: domain.CodeKMSError}
	denied := domain.Check{Name: "x", Code: domain.CodeAccessDenied}
	for _, tc := range []struct {
		name          string
		checks        []domain.Check
		ok, transient bool
		first         string
	}{
		{"no checks", nil, false, false, ""},
		{"all passed", []domain.Check{ok, ok}, true, false, ""},
		{"an outage", []domain.Check{ok, down, skipped}, false, true, "d"},
		{"a KMS-side error", []domain.Check{ok, kmsErr}, false, true, "e"},
		{"an outage and a refusal", []domain.Check{down, denied}, false, false, "d"},
		{"a refusal after skips", []domain.Check{skipped, denied}, false, false, "x"},
		{"only skips", []domain.Check{skipped}, false, false, ""},
	} {
		r := verify.Report{Checks: tc.checks}
		c, found := r.FirstFailure()
		if r.OK() != tc.ok || r.Transient() != tc.transient || c.Name != tc.first || found != (tc.first != "") {
			t.Errorf("%s: OK %t Transient %t FirstFailure %q; want %t %t %q", tc.name, r.OK(), r.Transient(), c.Name, tc.ok, tc.transient, tc.first)
		}
	}
}

// TestVerify_ReplicaOf: a derived replica is verified with replica_of: it passes for a
// replica of the home key's primary, fails not_a_replica for a replica of another primary or for a key
// that is no replica, and a missing replica's describe_key tells the customer how to make it.
func TestVerify_ReplicaOf(t *testing.T) {
	t.Parallel()
	env := kmstest.StartEmulator(t)
	replicate := func(keyARN string) string { return env.ReplicateKey(t, keyARN, "us-west-2") }
	home := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{MultiRegion: true})
	other := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{MultiRegion: true})
	single := env.CreateCustomerKey(t, "us-west-2", kmstest.KeyOptions{})
	unreplicated := env.CreateCustomerKey(t, env.Region, kmstest.KeyOptions{MultiRegion: true})
	missing := strings.Replace(unreplicated, ":"+env.Region+":", ":us-west-2:", 1)
	v := verify.New(env.PlatformClient(t), keyarn.Rules{Regions: regions, MultiRegion: keyarn.MultiRegionAllowed}, verify.Options{Backoff: []time.Duration{}})
	const mr = "arn describe_key key_state key_usage key_spec key_manager multi_region "
	for _, tc := range []struct {
		name, key, replicaOf, want string
	}{
		{"a replica of the home key", replicate(home), home, mr + "replica_of generate_data_key decrypt re_encrypt encrypt"},
		{"a replica of another key", replicate(other), home, mr + "replica_of=not_a_replica generate_data_key=skipped decrypt=skipped re_encrypt=skipped encrypt=skipped"},
		{"a single-region key", single, home, "arn describe_key key_state key_usage key_spec key_manager multi_region replica_of=not_a_replica generate_data_key=skipped decrypt=skipped re_encrypt=skipped encrypt=skipped"},
		{"a missing replica", missing, unreplicated, "arn describe_key=key_not_found(kms:DescribeKey) key_state=skipped key_usage=skipped key_spec=skipped key_manager=skipped multi_region=skipped replica_of=skipped generate_data_key=skipped decrypt=skipped re_encrypt=skipped encrypt=skipped"},
	} {
		r := v.Run(t.Context(), verify.Request{Key: tc.key, Region: "us-west-2", OrgID: "org_verify", Steps: verify.Full, ReplicaOf: tc.replicaOf})
		if got := summary(r); got != tc.want {
			t.Errorf("%s: checks\n got %s\nwant %s", tc.name, got, tc.want)
		}
		if tc.name == "a missing replica" {
			msg := r.Checks[1].Message
			if want := "aws kms replicate-key --key-id " + unreplicated + " --replica-region us-west-2"; !strings.Contains(msg, want) {
				t.Errorf("describe_key message %q, want %q in it", msg, want)
			}
		}
	}
}
