package faults_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// retireGate stands between the server and the emulator: while closed, every RetireGrant answers
// 503 as KMS does in an outage, so a test decides when a retirement can go through.
type retireGate struct {
	closed  atomic.Bool
	refused atomic.Int64
}

func (g *retireGate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.closed.Load() && r.Header.Get("X-Amz-Target") == "TrentService.RetireGrant" {
			g.refused.Add(1)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"__type":"ServiceUnavailableException","message":"faults: retirements are held back"}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// grantStack is a stack in grant mode: the emulator binary maps the control and the data
// identity's access keys to their roles; the server binary takes the control identity from the
// standard chain's environment variables and the data identity from a profile of a shared AWS config
// file, as in production. Its KMS traffic passes through gate.
func grantStack(t *testing.T, dbURL string, gate *retireGate) (*stack, *kmstest.Env) {
	t.Helper()
	serverBin, emulatorBin := buildBinaries(t)
	kenv := startEmulator(t, emulatorBin,
		kmstest.ControlAccessKey+"="+kmstest.ControlPrincipal, kmstest.DataAccessKey+"="+kmstest.DataPrincipal)
	target, _ := url.Parse(kenv.Endpoint)
	proxy := httptest.NewServer(gate.wrap(httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(proxy.Close)
	// The platform's own key admits the platform's account, so both identities.
	providerKey := kenv.CreateCustomerKey(t, region, kmstest.KeyOptions{})

	home := t.TempDir()
	awsConfig, awsCredentials := filepath.Join(home, "config"), filepath.Join(home, "credentials")
	for path, text := range map[string]string{
		awsConfig:      "[profile cmekd-data]\nregion = " + region + "\n",
		awsCredentials: "[cmekd-data]\naws_access_key_id = " + kmstest.DataAccessKey + "\naws_secret_access_key = faults-not-a-secret\n",
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := testkit.FreeAddr(t)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"CMEKD_ADDR=" + addr,
		"CMEKD_DATABASE_URL=" + dbURL,
		"CMEKD_ADMIN_TOKEN=" + adminToken,
		"CMEKD_KMS_ENDPOINT=" + proxy.URL,
		"CMEKD_KMS_TIMEOUT=2s",
		"CMEKD_PLATFORM_PRINCIPAL=" + kmstest.ControlPrincipal,
		"CMEKD_DATA_PRINCIPAL=" + kmstest.DataPrincipal,
		"CMEKD_DATA_PROFILE=cmekd-data",
		"CMEKD_PROVIDER_KEY_ARN=" + providerKey,
		"CMEKD_REGIONS=" + region,
		"AWS_ACCESS_KEY_ID=" + kmstest.ControlAccessKey,
		"AWS_SECRET_ACCESS_KEY=faults-not-a-secret",
		"AWS_CONFIG_FILE=" + awsConfig,
		"AWS_SHARED_CREDENTIALS_FILE=" + awsCredentials,
		"AWS_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	return &stack{t: t, serverBin: serverBin, env: env, URL: "http://" + addr}, kenv
}

// raw makes a request as the admin and returns the body undecoded.
func (s *stack) raw(status int, method, path string) []byte {
	s.t.Helper()
	a, err := call(context.Background(), method, s.URL+path, nil, nil)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	if a.Status != status {
		s.t.Fatalf("%s %s = %d %s, want %d", method, path, a.Status, a.Body, status)
	}
	return a.Body
}

// TestFaults_GrantRetirementSurvivesAKill: an organisation is deleted while KMS does not
// confirm the retirement of its grant; the server is SIGKILLed before it could; started again, it
// retires the grant, and the admin's trail has grant.retired.
func TestFaults_GrantRetirementSurvivesAKill(t *testing.T) {
	t.Parallel()
	gate := &retireGate{}
	s, kenv := grantStack(t, testkit.Database(t), gate)
	srv := s.startServer()

	key := kenv.CreateCustomerKey(t, region, kmstest.KeyOptions{DefaultPolicy: true})
	policy := s.raw(http.StatusOK, "GET", "/v1/key-policy?template=full&key_arn="+url.QueryEscape(key))
	customer := kenv.SDK(t, region, kenv.CustomerAccessKey)
	ctx := context.Background()
	if _, err := customer.PutKeyPolicy(ctx, &awskms.PutKeyPolicyInput{KeyId: aws.String(key), Policy: aws.String(string(policy)),
		PolicyName: aws.String("default")}); err != nil {
		t.Fatal(err)
	}
	org := s.must(http.StatusCreated, "POST", "/v1/orgs", map[string]any{"name": "Doomed", "region": region,
		"encryption": map[string]any{"mode": "customer_managed", "key_arn": key}})["id"].(string)
	grants := s.must(http.StatusOK, "GET", "/v1/orgs/"+org+"/grants", nil)["grants"].([]any)
	if len(grants) != 1 {
		t.Fatalf("grants %v", grants)
	}
	grantID := grants[0].(map[string]any)["grant_id"].(string)
	inKMS := func() bool {
		out, err := customer.ListGrants(ctx, &awskms.ListGrantsInput{KeyId: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range out.Grants {
			if aws.ToString(g.GrantId) == grantID {
				return true
			}
		}
		return false
	}
	if !inKMS() {
		t.Fatal("the organisation's grant is not in KMS")
	}

	gate.closed.Store(true)
	s.raw(http.StatusNoContent, "DELETE", "/v1/orgs/"+org)
	deadline := time.Now().Add(20 * time.Second)
	for gate.refused.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the server never tried to retire the grant")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.kill()
	gate.closed.Store(false)
	if !inKMS() {
		t.Fatal("the grant went although every retirement was refused")
	}

	s.startServer()
	deadline = time.Now().Add(30 * time.Second)
	for inKMS() {
		if time.Now().After(deadline) {
			t.Fatal("the restarted server did not retire the grant")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var trail struct {
		Events []struct {
			OrgID   string         `json:"org_id"`
			Details map[string]any `json:"details"`
		} `json:"events"`
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if err := json.Unmarshal(s.raw(http.StatusOK, "GET", "/v1/events?type=grant.retired"), &trail); err != nil {
			t.Fatal(err)
		}
		if len(trail.Events) == 1 && trail.Events[0].OrgID == org && trail.Events[0].Details["grant_id"] == grantID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin's trail of grant.retired: %+v", trail.Events)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
