package e2e_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/server"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// TestProviderKey_UnusableKeyStopsStart: a provider key the platform cannot use is the operator's
// mistake, and the server refuses to start naming the variable.
func TestProviderKey_UnusableKeyStopsStart(t *testing.T) {
	t.Parallel()
	kenv := kmstest.StartEmulator(t)
	disabled := kenv.CreateCustomerKey(t, home, kmstest.KeyOptions{})
	kenv.DisableKey(t, disabled)
	for name, keyARN := range map[string]string{
		"not found": "arn:aws:kms:" + home + ":" + kenv.Account + ":key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"disabled":  disabled,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, kenv)
			cfg.ProviderKeyARN = keyARN
			srv, err := server.New(context.Background(), cfg, serverOptions(kenv, &testkit.SyncBuffer{}, nil))
			if err == nil {
				srv.Close()
				t.Fatal("the server started on an unusable provider key")
			}
			if !strings.Contains(err.Error(), "CMEKD_PROVIDER_KEY_ARN") {
				t.Fatalf("the error does not name the variable: %v", err)
			}
		})
	}
}

// TestProviderKey_UnreachableAtStartKeepsReadyzAt503: KMS away at start does not stop the server,
// but it is not ready until a check of its key passes.
func TestProviderKey_UnreachableAtStartKeepsReadyzAt503(t *testing.T) {
	t.Parallel()
	kenv := kmstest.StartEmulator(t)
	cfg := testConfig(t, kenv)
	kenv.Freeze()
	e := start(t, cfg, kenv, nil)
	e.wantError(http.StatusServiceUnavailable, "unavailable", req{method: "GET", path: "/readyz"})
	kenv.Unfreeze()
	eventually(t, 30*time.Second, "/readyz to answer 200", func() bool {
		return e.do(req{method: "GET", path: "/readyz"}).Status == http.StatusOK
	})
}

// TestProviderKey_FailureIsThePlatformsNotTheTenants: the provider key disabled after start makes
// provider_managed organisations' documents and secrets answer 503 provider_key_unavailable, naming no key, and
// key-status say so; customer_managed organisations carry on; enabling it restores everything.
func TestProviderKey_FailureIsThePlatformsNotTheTenants(t *testing.T) {
	t.Parallel()
	e := setup(t, fastProbes(time.Hour))
	provOrg := e.createOrg("Platform Keyed")
	provCol := e.collection(provOrg, "events", true)["id"].(string)
	provDoc := e.ingest(provOrg, provCol, map[string]any{"n": 1})[0]
	e.newScope(provOrg, adminToken, "s")
	e.expect(http.StatusCreated, e.putSecret(provOrg, adminToken, "s", "k", "v1"))
	cmekOrg, _ := e.cmekOrg("Own Keyed")
	cmekCol := e.collection(cmekOrg, "events", true)["id"].(string)
	cmekDoc := e.ingest(cmekOrg, cmekCol, map[string]any{"n": 2})[0]

	status := e.keyStatus(provOrg)
	if status["region"] != "us-west-2" || status["purpose"] != "data" || status["status"] != "healthy" || len(status) != 3 {
		t.Fatalf("key-status of a provider_managed organisation: %v", status)
	}

	keyARN := e.cfg.ProviderKeyARN
	keyID := keyARN[strings.LastIndex(keyARN, "/")+1:]
	noKeyIn := func(resp response) {
		t.Helper()
		if bytes.Contains(resp.Body, []byte(keyID)) {
			t.Fatalf("an answer to a tenant names the provider key: %s", resp.Body)
		}
	}
	e.disableKey(keyARN)
	var resp response
	eventually(t, 30*time.Second, "provider_managed ingest to fail", func() bool {
		resp = e.do(req{method: "POST", path: docsPath(provOrg, provCol), token: adminToken,
			body: map[string]any{"documents": []any{map[string]any{"n": 3}}}})
		return resp.Status != http.StatusCreated
	})
	if resp.Status != http.StatusServiceUnavailable || resp.Code(t) != "provider_key_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("ingest with the provider key disabled: %d %s (Retry-After %q)", resp.Status, resp.Body, resp.Header.Get("Retry-After"))
	}
	noKeyIn(resp)
	noKeyIn(e.wantError(http.StatusServiceUnavailable, "provider_key_unavailable",
		req{method: "GET", path: docsPath(provOrg, provCol) + "/" + provDoc, token: adminToken}))
	noKeyIn(e.wantError(http.StatusServiceUnavailable, "provider_key_unavailable",
		req{method: "GET", path: secretPath(provOrg, "s", "k"), token: adminToken}))
	if r := e.putSecret(provOrg, adminToken, "s", "k", "v2"); r.Status != http.StatusServiceUnavailable || r.Code(t) != "provider_key_unavailable" {
		t.Fatalf("secret write with the provider key disabled: %d %s", r.Status, r.Body)
	}
	ks := e.do(req{method: "GET", path: "/v1/orgs/" + provOrg + "/key-status", token: adminToken})
	noKeyIn(ks)
	if s := e.keyStatus(provOrg)["status"]; s != "unavailable" {
		t.Fatalf("key-status with the provider key disabled: %v", s)
	}
	org := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + provOrg, token: adminToken})
	if s := org["encryption"].(map[string]any)["status"]; s != "unavailable" {
		t.Fatalf("a provider_managed organisation with the provider key disabled shows %v", s)
	}

	// The tenant's own key is not the platform's: its data reads and writes as before.
	if got := e.readDoc(cmekOrg, cmekCol, cmekDoc); got != `{"n":2}` {
		t.Fatalf("customer_managed read: %s", got)
	}
	e.ingest(cmekOrg, cmekCol, map[string]any{"n": 4})
	if n := e.eventCount(provOrg, "key.unavailable"); n != 0 {
		t.Fatalf("the provider key's failure was recorded against the tenant: %d key.unavailable events", n)
	}
	e.must(http.StatusOK, req{method: "GET", path: "/readyz"})

	e.enableKey(keyARN)
	eventually(t, 30*time.Second, "provider_managed reads to work again", func() bool {
		return e.do(req{method: "GET", path: docsPath(provOrg, provCol) + "/" + provDoc, token: adminToken}).Status == http.StatusOK
	})
	e.ingest(provOrg, provCol, map[string]any{"n": 5})
	if v := e.readSecret(provOrg, adminToken, "s", "k"); v != "v1" {
		t.Fatalf("secret after the provider key came back: %q", v)
	}
	if s := e.keyStatus(provOrg)["status"]; s != "healthy" {
		t.Fatalf("key-status with the provider key enabled again: %v", s)
	}
}

// TestProviderKey_CannotBeLinkedAsACustomersKey: the platform's own key is never a customer's key,
// at creation, as a backup key, or for an added region: nothing is stored.
func TestProviderKey_CannotBeLinkedAsACustomersKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	provider := e.cfg.ProviderKeyARN
	resp := e.do(req{method: "POST", path: "/v1/orgs", token: adminToken, body: map[string]any{"name": "Mallory", "region": home,
		"encryption": map[string]any{"mode": "customer_managed", "key_arn": provider}}})
	if resp.Status != http.StatusUnprocessableEntity || resp.Code(t) != "invalid_key_arn" {
		t.Fatalf("the provider key as a customer key: %d %s", resp.Status, resp.Body)
	}
	_, key := e.cmekOrg("Trudy")
	resp = e.do(req{method: "POST", path: "/v1/orgs", token: adminToken, body: map[string]any{"name": "Mallory", "region": home,
		"encryption": map[string]any{"mode": "customer_managed", "key_arn": key, "backup_key_arn": provider}}})
	if resp.Status != http.StatusUnprocessableEntity || resp.Code(t) != "invalid_key_arn" {
		t.Fatalf("the provider key as a backup key: %d %s", resp.Status, resp.Body)
	}
	e.wantCount(1, "organisations stored", `SELECT count(*) FROM orgs`)
}
