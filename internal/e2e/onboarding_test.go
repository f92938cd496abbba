package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// createCMEK asks for a customer-managed organisation with keyARN.
func (e *env) createCMEK(name, keyARN string) response {
	e.t.Helper()
	return e.do(req{method: "POST", path: "/v1/orgs", token: adminToken, body: map[string]any{
		"name": name, "region": home, "encryption": map[string]any{"mode": "customer_managed", "key_arn": keyARN}}})
}

// checksOf returns the checks of a key-checks answer or a key_verification_failed error, by name.
func checksOf(t testing.TB, body map[string]any) map[string]map[string]any {
	t.Helper()
	return grantChecks(t, body, false)
}

// wantOnlyDenied fails unless check failed as access_denied naming action and no other check
// failed (a skipped check is no failure), after removing what removed names from a policy.
func wantOnlyDenied(t testing.TB, checks map[string]map[string]any, removed, check, action string) {
	t.Helper()
	wantFailedCheck(t, checks, check, "access_denied", action)
	failed := 0
	for _, c := range checks {
		if c["ok"] == false && c["code"] != "skipped" {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("removing %s failed %d checks, want exactly %s: %v", removed, failed, check, checks)
	}
}

// wantFailedCheck asserts that check failed with code (and action, when given) and that every check
// before it in the list passed or was skipped.
func wantFailedCheck(t testing.TB, checks map[string]map[string]any, name, code, action string) {
	t.Helper()
	c := checks[name]
	if c["ok"] != false || c["code"] != code || (action != "" && c["action"] != action) {
		t.Fatalf("check %s = %v, want code %s action %q", name, c, code, action)
	}
	if msg, _ := c["message"].(string); msg == "" {
		t.Fatalf("check %s has no message for the customer", name)
	}
}

func (e *env) nothingStored() {
	e.t.Helper()
	if n := e.count(`SELECT (SELECT count(*) FROM orgs) + (SELECT count(*) FROM key_links) + (SELECT count(*) FROM events) + (SELECT count(*) FROM key_health)`); n != 0 {
		e.t.Fatalf("a refused creation stored %d rows", n)
	}
}

func TestCreateOrg_VerifiedKeyIsLinked(t *testing.T) {
	t.Parallel()
	e := setup(t)
	key := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{})
	resp := e.createCMEK("Acme", "  "+key+"\n")
	if resp.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.Status, resp.Body)
	}
	o := resp.JSON(t)
	enc := o["encryption"].(map[string]any)
	if enc["mode"] != "customer_managed" || enc["key_arn"] != key || enc["status"] != "healthy" {
		t.Fatalf("encryption %v", enc)
	}
	id := o["id"].(string)
	if n := e.count(`SELECT count(*) FROM key_links WHERE org_id = $1 AND region = $2 AND purpose = 'data' AND key_arn = $3`, id, home, key); n != 1 {
		t.Fatal("no key link stored")
	}
	ev := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + id + "/events", token: adminToken})
	var types []string
	for _, x := range ev["events"].([]any) {
		types = append(types, x.(map[string]any)["type"].(string))
	}
	if !slices.Equal(types, []string{"key.verified", "org.created"}) {
		t.Fatalf("events newest first %v", types)
	}
}

func TestKeyChecks_ReportsEveryCheckAndStoresNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	good := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{})
	ok := e.must(http.StatusOK, req{method: "POST", path: "/v1/key-checks", token: adminToken, body: map[string]any{"key_arn": good, "region": home}})
	if ok["ok"] != true || ok["key_arn"] != good {
		t.Fatalf("good key: %v", ok)
	}
	for name, c := range checksOf(t, ok) {
		if c["ok"] != true {
			t.Fatalf("check %s failed on a good key: %v", name, c)
		}
	}
	stmt := ok["policy_statement"].(map[string]any)
	if !strings.Contains(stmt["Sid"].(string), "cmekd") || stmt["Principal"].(map[string]any)["AWS"] != e.kms.PlatformPrincipal {
		t.Fatalf("policy statement %v", stmt)
	}
	// An organisation member may run checks too; a bad ARN is a failed arn check, still a 200.
	org := e.createOrg("Acme")
	member := e.token(org, "member")
	bad := e.must(http.StatusOK, req{method: "POST", path: "/v1/key-checks", token: member, body: map[string]any{"key_arn": "alias/mine"}})
	checks := checksOf(t, bad)
	if bad["ok"] != false || checks["arn"]["code"] != "key_arn_required" || checks["describe_key"]["code"] != "skipped" || checks["encrypt"]["code"] != "skipped" {
		t.Fatalf("alias: %v", bad)
	}
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "POST", path: "/v1/key-checks", token: member, body: map[string]any{}})
	e.wantError(http.StatusBadRequest, "unknown_field", req{method: "POST", path: "/v1/key-checks", token: member, body: map[string]any{"key_arn": good, "force": true}})
	if n := e.count(`SELECT count(*) FROM orgs`); n != 1 {
		t.Fatalf("key checks stored organisations: %d", n)
	}
}

// TestCreateOrg_EveryCustomerFailure: each way a customer can get the key wrong yields the matching
// failed check inside 422 key_verification_failed, and nothing is stored.
func TestCreateOrg_EveryCustomerFailure(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	owner := e.kms.SDK(t, home, e.kms.CustomerAccessKey)
	newKey := func(opt kmstest.KeyOptions) string { return e.kms.CreateCustomerKey(t, home, opt) }

	disabled := newKey(kmstest.KeyOptions{})
	e.disableKey(disabled)
	pending := newKey(kmstest.KeyOptions{})
	e.scheduleDeletion(pending)
	aliases, err := owner.ListAliases(ctx, &awskms.ListAliasesInput{})
	if err != nil {
		t.Fatal(err)
	}
	awsManaged := ""
	for _, a := range aliases.Aliases {
		if aws.ToString(a.AliasName) == "alias/aws/cmekd-test" {
			awsManaged = "arn:aws:kms:" + home + ":" + e.kms.Account + ":key/" + aws.ToString(a.TargetKeyId)
		}
	}
	if awsManaged == "" {
		t.Fatal("the emulator has no AWS-managed key")
	}
	arnOf := func(id string) string { return "arn:aws:kms:" + home + ":" + e.kms.Account + ":key/" + id }

	cases := []struct {
		name, key, check, code, action string
	}{
		{"default key policy (platform not admitted)", newKey(kmstest.KeyOptions{DefaultPolicy: true}), "describe_key", "access_denied", "kms:DescribeKey"},
		{"disabled key", disabled, "key_state", "key_disabled", ""},
		{"pending deletion", pending, "key_state", "key_pending_deletion", ""},
		{"unknown key", arnOf("0b0e0b0e-1111-4222-8333-444455556666"), "describe_key", "key_not_found", ""},
		{"RSA key", newKey(kmstest.KeyOptions{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt}), "key_spec", "wrong_key_spec", ""},
		{"HMAC key", newKey(kmstest.KeyOptions{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac}), "key_usage", "wrong_key_usage", ""},
		{"AWS-managed key", awsManaged, "key_manager", "aws_managed_key", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			resp := e.createCMEK("org", tc.key)
			if resp.Status != http.StatusUnprocessableEntity || resp.Code(t) != "key_verification_failed" {
				t.Fatalf("%d %s", resp.Status, resp.Body)
			}
			checks := checksOf(t, resp.JSON(t))
			wantFailedCheck(t, checks, tc.check, tc.code, tc.action)
			for _, later := range []string{"generate_data_key", "decrypt", "re_encrypt", "encrypt"} {
				if checks[later]["ok"] != false {
					t.Fatalf("%s ran on an unusable key: %v", later, checks[later])
				}
			}
		})
	}
	e.t = t
	e.nothingStored()
}

func TestCreateOrg_MultiRegionKeysUnderEachSetting(t *testing.T) {
	t.Parallel()
	for _, setting := range []string{"required", "allowed", "rejected"} {
		t.Run(setting, func(t *testing.T) {
			t.Parallel()
			e := setup(t, func(c *config.Config) { c.MultiRegionKeys = setting })
			mrk := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{MultiRegion: true})
			single := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{})
			mrResp, singleResp := e.createCMEK("mrk", mrk), e.createCMEK("single", single)
			switch setting {
			case "required":
				if mrResp.Status != 201 || singleResp.Status != 422 || singleResp.Code(t) != "multi_region_key_required" {
					t.Fatalf("mrk %d, single %d %s", mrResp.Status, singleResp.Status, singleResp.Body)
				}
			case "allowed":
				if mrResp.Status != 201 || singleResp.Status != 201 {
					t.Fatalf("mrk %d %s, single %d %s", mrResp.Status, mrResp.Body, singleResp.Status, singleResp.Body)
				}
			case "rejected":
				if singleResp.Status != 201 || mrResp.Status != 422 || mrResp.Code(t) != "multi_region_key_not_supported" {
					t.Fatalf("mrk %d %s, single %d", mrResp.Status, mrResp.Body, singleResp.Status)
				}
			}
		})
	}
}

// policyFor fetches the generated policy (full template) for key, as the customer would.
func (e *env) policyFor(key string) map[string]any {
	e.t.Helper()
	return e.must(http.StatusOK, req{method: "GET", path: "/v1/key-policy?template=full&key_arn=" + url.QueryEscape(key), token: adminToken})
}

// restorePolicy, back in the test t after its subtests, puts doc back as key's policy and
// onboards an organisation on key.
func (e *env) restorePolicy(t *testing.T, key string, doc any) {
	t.Helper()
	e.t = t
	e.putPolicy(key, doc)
	if resp := e.createCMEK("restored", key); resp.Status != http.StatusCreated {
		t.Fatalf("after restoring the policy: %d %s", resp.Status, resp.Body)
	}
}

// without is list less every element equal to v (nil when nothing is left).
func without(list []any, v any) []any {
	var kept []any
	for _, x := range list {
		if x != v {
			kept = append(kept, x)
		}
	}
	return kept
}

func (e *env) putPolicy(key string, doc any) {
	e.t.Helper()
	b, _ := json.Marshal(doc)
	e.setPolicy(key, string(b))
}

// TestKeyPolicy_IsExactlyEnough: the generated policy makes every check pass; without any one of the
// actions the checks exercise, the matching check fails with access_denied.
func TestKeyPolicy_IsExactlyEnough(t *testing.T) {
	t.Parallel()
	e := setup(t)
	key := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{DefaultPolicy: true})
	doc := e.policyFor(key)
	e.putPolicy(key, doc)
	all := e.must(http.StatusOK, req{method: "POST", path: "/v1/key-checks", token: adminToken, body: map[string]any{"key_arn": key}})
	if all["ok"] != true {
		t.Fatalf("the generated policy is not enough: %s", all["checks"])
	}
	for _, tc := range []struct{ action, check, denied string }{
		{"kms:DescribeKey", "describe_key", "kms:DescribeKey"},
		{"kms:GenerateDataKey*", "generate_data_key", "kms:GenerateDataKey"},
		{"kms:Decrypt", "decrypt", "kms:Decrypt"},
		// Backups re-wrap data keys with ReEncrypt: the re_encrypt check needs it.
		{"kms:ReEncrypt*", "re_encrypt", "kms:ReEncryptFrom"},
		{"kms:Encrypt", "encrypt", "kms:Encrypt"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			e.t = t
			trimmed := e.policyFor(key)
			for _, s := range trimmed["Statement"].([]any) {
				st := s.(map[string]any)
				if st["Sid"] != "cmekdAllowUseOfTheKey" {
					continue
				}
				kept := without(st["Action"].([]any), tc.action)
				if len(kept) != len(st["Action"].([]any))-1 {
					t.Fatalf("%s is not in the use statement %v", tc.action, st["Action"])
				}
				st["Action"] = kept
			}
			e.putPolicy(key, trimmed)
			resp := e.createCMEK("org "+tc.action, key)
			if resp.Status != http.StatusUnprocessableEntity {
				t.Fatalf("%d %s", resp.Status, resp.Body)
			}
			checks := checksOf(t, resp.JSON(t))
			wantOnlyDenied(t, checks, tc.action, tc.check, tc.denied)
		})
	}
	e.restorePolicy(t, key, doc)
}

func TestKeyPolicy_FormatsAndRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t)
	key := "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	base := "/v1/key-policy?key_arn=" + url.QueryEscape(key)
	stmt := e.must(http.StatusOK, req{method: "GET", path: base, token: adminToken})
	if stmt["Effect"] != "Allow" || !strings.Contains(stmt["Sid"].(string), "cmekd") {
		t.Fatalf("statement %v", stmt)
	}
	full := e.must(http.StatusOK, req{method: "GET", path: base + "&template=full&additional_principal=arn:aws:iam::444455556666:role/spark&additional_principal=222233334444", token: adminToken})
	if len(full["Statement"].([]any)) != 3 {
		t.Fatalf("full policy %v", full)
	}
	for _, s := range full["Statement"].([]any) {
		st := s.(map[string]any)
		if !strings.Contains(st["Sid"].(string), "cmekd") {
			t.Fatalf("statement without a cmekd Sid: %v", st)
		}
		if st["Sid"] == "cmekdAllowUseOfTheKey" && len(st["Principal"].(map[string]any)["AWS"].([]any)) != 3 {
			t.Fatalf("additional principals missing: %v", st)
		}
	}
	tf := e.do(req{method: "GET", path: base + "&template=full&format=terraform", token: adminToken})
	if tf.Status != 200 || !strings.HasPrefix(tf.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("terraform: %d %s", tf.Status, tf.Header.Get("Content-Type"))
	}
	file, diags := hclsyntax.ParseConfig(tf.Body, "policy.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("terraform does not parse: %v\n%s", diags, tf.Body)
	}
	blocks := file.Body.(*hclsyntax.Body).Blocks
	if len(blocks) != 1 || blocks[0].Type != "resource" || blocks[0].Labels[0] != "aws_kms_key_policy" {
		t.Fatalf("terraform blocks %v", blocks)
	}
	e.wantError(http.StatusUnprocessableEntity, "alias_not_supported", req{method: "GET", path: "/v1/key-policy?key_arn=" + url.QueryEscape("arn:aws:kms:us-west-2:111122223333:alias/x"), token: adminToken})
	e.wantError(http.StatusUnprocessableEntity, "key_arn_required", req{method: "GET", path: "/v1/key-policy", token: adminToken})
	e.wantError(http.StatusUnprocessableEntity, "invalid_principal", req{method: "GET", path: base + "&additional_principal=bob", token: adminToken})
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "GET", path: base + "&template=huge", token: adminToken})
	e.wantError(http.StatusUnprocessableEntity, "invalid_request", req{method: "GET", path: base + "&format=yaml", token: adminToken})
}

func TestCreateOrg_IdempotencyKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	key := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{})
	body := map[string]any{"name": "Acme", "region": home, "encryption": map[string]any{"mode": "customer_managed", "key_arn": key}}
	h := map[string]string{"Idempotency-Key": "create-acme-1"}
	first := e.do(req{method: "POST", path: "/v1/orgs", token: adminToken, body: body, header: h})
	again := e.do(req{method: "POST", path: "/v1/orgs", token: adminToken, body: body, header: h})
	if first.Status != 201 || again.Status != 201 || string(first.Body) != string(again.Body) {
		t.Fatalf("first %d %s, retry %d %s", first.Status, first.Body, again.Status, again.Body)
	}
	e.wantCount(1, "organisations after a retry", `SELECT count(*) FROM orgs`)
	body["name"] = "Other"
	e.wantError(http.StatusUnprocessableEntity, "idempotency_key_reused", req{method: "POST", path: "/v1/orgs", token: adminToken, body: body, header: h})
	e.wantCount(1, "organisations after a reused key", `SELECT count(*) FROM orgs`)
}

func TestCreateOrg_UnreachableKMSIs503AndStoresNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	key := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{})
	e.kms.Freeze()
	resp := e.createCMEK("Acme", key)
	e.kms.Unfreeze()
	if resp.Status != http.StatusServiceUnavailable || resp.Code(t) != "kms_unreachable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	e.nothingStored()
	if resp := e.createCMEK("Acme", key); resp.Status != http.StatusCreated {
		t.Fatalf("after KMS came back: %d %s", resp.Status, resp.Body)
	}
}
