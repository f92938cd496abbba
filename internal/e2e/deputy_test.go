package e2e_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// TestKeyChecks_NotAConfusedDeputy: an organisation's token may make the platform check only keys of
// the AWS accounts its organisation linked; another tenant's key is the admin's to check, and the
// refusal makes no KMS call.
func TestKeyChecks_NotAConfusedDeputy(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, _ := e.cmekOrg("Acme")
	member := e.token(org, "member")
	mine := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{}) // the account Acme linked
	if got := e.must(http.StatusOK, req{method: "POST", path: "/v1/key-checks", token: member, body: map[string]any{"key_arn": mine}}); got["ok"] != true {
		t.Fatalf("a check of a key in the organisation's own account: %v", got)
	}
	other := strings.Replace(mine, ":"+e.kms.Account+":", ":444455556666:", 1)
	resp := e.wantError(http.StatusForbidden, "key_check_not_allowed", req{method: "POST", path: "/v1/key-checks", token: member, body: map[string]any{"key_arn": other}})
	if !strings.Contains(string(resp.Body), e.kms.Account) {
		t.Errorf("the refusal does not say which accounts may be checked: %s", resp.Body)
	}
	// The admin may check any key; a provider-managed organisation has linked no account at all.
	e.must(http.StatusOK, req{method: "POST", path: "/v1/key-checks", token: adminToken, body: map[string]any{"key_arn": other}})
	provider := e.token(e.createOrg("Provided"), "owner")
	e.wantError(http.StatusForbidden, "key_check_not_allowed", req{method: "POST", path: "/v1/key-checks", token: provider, body: map[string]any{"key_arn": mine}})
	// A name that is no key ARN makes no KMS call: its check is anyone's.
	e.must(http.StatusOK, req{method: "POST", path: "/v1/key-checks", token: provider, body: map[string]any{"key_arn": "alias/mine"}})
}

// TestKeyChecks_RateLimitedPerToken: a token's key checks and probes-now come in bursts, then 429
// rate_limited with Retry-After; another token, and the admin, are not held up by it.
func TestKeyChecks_RateLimitedPerToken(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, key := e.cmekOrg("Acme")
	owner := e.token(org, "owner")
	for _, path := range []string{"/v1/key-checks", "/v1/orgs/" + org + "/key-status/probe"} {
		r := req{method: "POST", path: path, token: owner}
		if strings.HasSuffix(path, "key-checks") {
			r.body = map[string]any{"key_arn": key}
		}
		limited := false
		for range 30 {
			resp := e.do(r)
			if resp.Status == http.StatusTooManyRequests {
				if resp.Code(t) != "rate_limited" || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("%s: 429 %s without Retry-After or the rate_limited code", path, resp.Body)
				}
				limited = true
				break
			}
			if resp.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", path, resp.Status, resp.Body)
			}
		}
		if !limited {
			t.Fatalf("%s: 30 requests at once from one token were never limited", path)
		}
		other := e.token(org, "operator")
		r.token = other
		e.must(http.StatusOK, r)
		r.token = adminToken
		e.must(http.StatusOK, r)
	}
}
