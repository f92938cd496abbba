package gcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/provider"
	"github.com/cmekd/cmekd/internal/provider/gcp"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/cmekd/cmekd/internal/verify"
)

const goodKey = "projects/acme-prod/locations/us-central1/keyRings/ring_1/cryptoKeys/data-key"

func TestIdentify(t *testing.T) {
	t.Parallel()
	p := shared(t).Provider
	for _, tc := range []struct {
		name, key, region, code, says string
	}{
		{"key", goodKey, "us-central1", "", ""},
		{"key any region", goodKey, "", "", ""},
		{"domain-scoped project", "projects/example.com:acme/locations/europe-west1/keyRings/r/cryptoKeys/k", "", "", ""},
		{"version", goodKey + "/cryptoKeyVersions/3", "", domain.CodeKeyVersionNotAllowed, "give the CryptoKey"},
		{"version, region mismatch too", goodKey + "/cryptoKeyVersions/3", "europe-west1", domain.CodeKeyVersionNotAllowed, goodKey},
		{"region mismatch", goodKey, "europe-west1", domain.CodeKeyRegionMismatch, "linked for region europe-west1"},
		{"location not served", "projects/acme-prod/locations/asia-east1/keyRings/r/cryptoKeys/k", "", domain.CodeUnsupportedRegion, "us-central1, europe-west1"},
		{"key ring", "projects/acme-prod/locations/us-central1/keyRings/ring_1", "", domain.CodeInvalidKeyID, "projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>"},
		{"bad key id character", "projects/acme-prod/locations/us-central1/keyRings/r/cryptoKeys/da.ta", "", domain.CodeInvalidKeyID, "1 to 63"},
		{"key id too long", "projects/acme-prod/locations/us-central1/keyRings/r/cryptoKeys/" + strings.Repeat("k", 64), "", domain.CodeInvalidKeyID, ""},
		{"empty ring", "projects/acme-prod/locations/us-central1/keyRings//cryptoKeys/k", "", domain.CodeInvalidKeyID, ""},
		{"wrong collection", "projects/acme-prod/regions/us-central1/keyRings/r/cryptoKeys/k", "", domain.CodeInvalidKeyID, ""},
		{"upper-case project", "projects/Acme/locations/us-central1/keyRings/r/cryptoKeys/k", "", domain.CodeInvalidKeyID, ""},
		{"trailing slash", goodKey + "/", "", domain.CodeInvalidKeyID, ""},
		{"version zero", goodKey + "/cryptoKeyVersions/0", "", domain.CodeInvalidKeyID, ""},
		{"full resource name", "//cloudkms.googleapis.com/" + goodKey, "", domain.CodeInvalidKeyID, ""},
	} {
		got, err := p.Identify(tc.key, tc.region)
		if tc.code == "" {
			if err != nil || got != tc.key {
				t.Errorf("%s: Identify = %q, %v", tc.name, got, err)
			}
			continue
		}
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != tc.code || de.Kind != domain.KindInvalid || !strings.Contains(de.Message, tc.says) {
			t.Errorf("%s: Identify error = %v, want %s saying %q", tc.name, err, tc.code, tc.says)
		}
	}
	if provider.Of(goodKey) != p.Name() {
		t.Errorf("a key id is routed to %q", provider.Of(goodKey))
	}
}

func TestVerify_InvalidKeyIDSkipsTheRest(t *testing.T) {
	t.Parallel()
	p := shared(t).Provider
	r := p.Verify(context.Background(), verify.Request{Key: goodKey + "/cryptoKeyVersions/1", Steps: verify.Full})
	if r.KeyARN != goodKey+"/cryptoKeyVersions/1" || len(r.Checks) != len(gcp.Checks) || r.Transient() {
		t.Fatalf("report %+v", r)
	}
	if c := r.Checks[0]; c.Name != gcp.CheckKeyID || c.Code != domain.CodeKeyVersionNotAllowed {
		t.Fatalf("first check %+v", c)
	}
	for i, c := range r.Checks[1:] {
		if c.Name != gcp.Checks[i+1] || c.Code != domain.CodeSkipped || !strings.HasPrefix(c.Message, "not run: ") {
			t.Errorf("check %+v, want %s skipped", c, gcp.Checks[i+1])
		}
	}
}

func TestVerify_HealthIgnoresTheServedRegions(t *testing.T) {
	t.Parallel()
	en := shared(t)
	key := en.grantedKey(t)
	// A deployment that stopped serving the key's location still probes the linked key.
	p := en.provider(t, en.addr, gcp.Config{Regions: []string{"europe-west1"}})
	t.Cleanup(func() { _ = p.Close() })
	if r := p.Verify(context.Background(), verify.Request{Key: key, OrgID: "org_1", Steps: verify.Health}); !r.OK() {
		t.Fatalf("probe: %+v", r.Checks)
	}
	r := p.Verify(context.Background(), verify.Request{Key: key, OrgID: "org_1", Steps: verify.Full})
	if c, _ := r.FirstFailure(); c.Name != gcp.CheckKeyID || c.Code != domain.CodeUnsupportedRegion {
		t.Fatalf("full verification: %+v", r.Checks)
	}
}

func TestVerify_UnreachableIsTransientAfterRetries(t *testing.T) {
	t.Parallel()
	en := shared(t)
	closed := testkit.FreeAddr(t)
	backoff := []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}
	p := en.provider(t, closed, gcp.Config{Backoff: backoff, Timeout: 2 * time.Second})
	t.Cleanup(func() { _ = p.Close() })
	start := time.Now()
	r := p.Verify(context.Background(), verify.Request{Key: goodKey, OrgID: "org_1", Steps: verify.Health})
	if !r.Transient() || r.OK() {
		t.Fatalf("report of an unreachable Cloud KMS is not transient: %+v", r.Checks)
	}
	c, _ := r.FirstFailure()
	if c.Name != gcp.CheckGetKey || c.Code != domain.CodeKMSUnavailable || !strings.Contains(c.Message, "Retry shortly") {
		t.Fatalf("first failure %+v", c)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Fatalf("answered in %s: the failure was not retried with backoff", took)
	}
	_, _, err := p.GenerateDataKey(context.Background(), goodKey, nil)
	wantKMSError(t, err, domain.CodeKMSUnavailable, "cloudkms.cryptoKeyVersions.useToEncrypt")
}

func TestNew_RefusesAPrincipalThatIsNoServiceAccount(t *testing.T) {
	t.Parallel()
	for _, principal := range []string{"", "user:alice@example.com", "serviceAccount:", "cmekd"} {
		_, err := gcp.New(context.Background(), gcp.Config{Principal: principal})
		if err == nil || !strings.Contains(err.Error(), "CMEKD_GCP_PRINCIPAL") {
			t.Errorf("New with principal %q: %v", principal, err)
		}
	}
}

func TestAccess_Formats(t *testing.T) {
	t.Parallel()
	p := shared(t).Provider
	member := "serviceAccount:" + platformSA
	raw, err := p.Access(goodKey, "json")
	must(t, err)
	var doc map[string][]map[string]any
	must(t, json.Unmarshal(raw, &doc))
	if len(doc) != 1 || len(doc["bindings"]) != 2 {
		t.Fatalf("json: %s", raw)
	}
	statement, err := json.Marshal(p.Statement(goodKey))
	must(t, err)
	var again map[string][]map[string]any
	must(t, json.Unmarshal(statement, &again))
	if len(again["bindings"]) != 2 {
		t.Fatalf("Statement is not the json form: %s", statement)
	}

	tf, err := p.Access(goodKey, "terraform")
	must(t, err)
	if _, diags := hclsyntax.ParseConfig(tf, "access.tf", hcl.InitialPos); diags.HasErrors() {
		t.Fatalf("terraform does not parse: %v\n%s", diags, tf)
	}
	if n := strings.Count(string(tf), `resource "google_kms_crypto_key_iam_member"`); n != 2 ||
		strings.Count(string(tf), `crypto_key_id = "`+goodKey+`"`) != 2 || strings.Count(string(tf), `member        = "`+member+`"`) != 2 ||
		!strings.Contains(string(tf), `"cmekd_crypto_key_encrypter_decrypter"`) || !strings.Contains(string(tf), `"cmekd_viewer"`) {
		t.Fatalf("terraform:\n%s", tf)
	}

	cli, err := p.Access(goodKey, "cli")
	must(t, err)
	lines := strings.Split(strings.TrimSpace(string(cli)), "\n")
	want := "gcloud kms keys add-iam-policy-binding data-key --keyring ring_1 --location us-central1 --project acme-prod --member " + member + " --role "
	if len(lines) != 2 || lines[0] != want+"roles/cloudkms.cryptoKeyEncrypterDecrypter" || lines[1] != want+"roles/cloudkms.viewer" {
		t.Fatalf("cli:\n%s", cli)
	}

	if _, err := p.Access(goodKey+"/cryptoKeyVersions/1", "json"); err == nil {
		t.Error("Access of a key version was answered")
	}
	if _, err := p.Access(goodKey, "yaml"); err == nil {
		t.Error("Access in an unknown format was answered")
	}
}

// BenchmarkVerifyAndProbe is the time of one full verification (onboarding, key checks) and of one
// probe of the monitor against the emulator over gRPC and TLS, for comparison with the other
// providers'.
func BenchmarkVerifyAndProbe(b *testing.B) {
	en := startEmulator(b, b.Cleanup)
	key := en.key(b, kmspb.CryptoKey_ENCRYPT_DECRYPT)
	en.grant(b, key, "roles/cloudkms.cryptoKeyEncrypterDecrypter", "roles/cloudkms.viewer")
	for _, bc := range []struct {
		name, unit string
		steps      verify.Steps
	}{{"Verify", "ms/verification", verify.Full}, {"Probe", "ms/probe", verify.Health}} {
		b.Run(bc.name, func(b *testing.B) {
			req := verify.Request{Key: key, Region: emuLocation, OrgID: "org_1", Steps: bc.steps}
			start := time.Now()
			for b.Loop() {
				if r := en.Provider.Verify(context.Background(), req); !r.OK() {
					b.Fatalf("%+v", r.Checks)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), bc.unit)
		})
	}
}

// Not parallel: it sets the environment.
func TestNew_UsesApplicationDefaultCredentials(t *testing.T) {
	en := shared(t)
	key := en.grantedKey(t)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(en.creds, platformSA+".json"))
	p, err := gcp.New(context.Background(), gcp.Config{Endpoint: en.addr, RootCAs: en.ca.Pool(), Principal: platformSA})
	must(t, err)
	t.Cleanup(func() { _ = p.Close() })
	if r := p.Verify(context.Background(), verify.Request{Key: key, OrgID: "org_1", Steps: verify.Full}); !r.OK() {
		t.Fatalf("verification as the ADC identity: %+v", r.Checks)
	}
	if s, _ := json.Marshal(p.Statement(key)); !strings.Contains(string(s), `"serviceAccount:`+platformSA+`"`) {
		t.Fatalf("a bare email is not taken as serviceAccount:EMAIL: %s", s)
	}
}
