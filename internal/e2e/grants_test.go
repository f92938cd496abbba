package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
)

// grantMode runs the server as two identities: the control identity (the standard
// chain's credentials) and the data identity; the harness gives each its access key.
func grantMode(c *config.Config) {
	c.PlatformPrincipal = kmstest.ControlPrincipal
	c.DataPrincipal = kmstest.DataPrincipal
	c.DataProfile = "cmekd-data"
}

// retireCounter counts the RetireGrant calls the emulator gets, by grant id.
type retireCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *retireCounter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "TrentService.RetireGrant" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var in struct{ GrantId string }
			_ = json.Unmarshal(body, &in)
			c.mu.Lock()
			if c.calls == nil {
				c.calls = map[string]int{}
			}
			c.calls[in.GrantId]++
			c.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (c *retireCounter) of(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

// grantChecks returns the checks of a key-checks answer or a key_verification_failed error by name,
// and fails unless they come in the verification's order with re_encrypt and, in grant mode, the grant's
// create_grant before the crypto checks.
func grantChecks(t testing.TB, body map[string]any, grantMode bool) map[string]map[string]any {
	t.Helper()
	list, ok := body["checks"].([]any)
	if !ok {
		list = body["error"].(map[string]any)["details"].(map[string]any)["checks"].([]any)
	}
	out := map[string]map[string]any{}
	var names []string
	for _, c := range list {
		m := c.(map[string]any)
		out[m["name"].(string)] = m
		names = append(names, m["name"].(string))
	}
	want := []string{"arn", "describe_key", "key_state", "key_usage", "key_spec", "key_manager", "multi_region"}
	if grantMode {
		want = append(want, "create_grant")
	}
	want = append(want, "generate_data_key", "decrypt", "re_encrypt", "encrypt")
	if !slices.Equal(names, want) {
		t.Fatalf("checks %v, want every check in order %v", names, want)
	}
	return out
}

// grantKey makes a key with KMS's default policy and puts the generated grant-mode policy on it, as
// the customer would.
func (e *env) grantKey() string {
	e.t.Helper()
	key := e.kms.CreateCustomerKey(e.t, home, kmstest.KeyOptions{DefaultPolicy: true})
	e.putPolicy(key, e.policyFor(key))
	return key
}

// kmsGrants lists the grants KMS holds on key, as the customer sees them.
func (e *env) kmsGrants(key string) []types.GrantListEntry {
	e.t.Helper()
	out, err := e.kms.SDK(e.t, home, e.kms.CustomerAccessKey).ListGrants(context.Background(), &awskms.ListGrantsInput{KeyId: aws.String(key)})
	if err != nil {
		e.t.Fatalf("ListGrants: %v", err)
	}
	return out.Grants
}

// grantsOf lists the organisation's grants through the API, as token.
func (e *env) grantsOf(org, token string) []map[string]any {
	e.t.Helper()
	body := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/grants", token: token})
	var out []map[string]any
	for _, g := range body["grants"].([]any) {
		out = append(out, g.(map[string]any))
	}
	return out
}

// wantAccessDenied fails unless err is KMS's AccessDeniedException.
func wantAccessDenied(t testing.TB, what string, err error) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("%s: %v, want AccessDeniedException", what, err)
	}
}

// TestGrants_EndToEnd walks grant mode through the real server: the customer puts the generated
// policy; the organisation's key gets one constrained grant; the control identity cannot decrypt
// its data keys, the data identity can, with the organisation's context only; the customer revokes
// the grant and the region halts, with no new grant made behind the customer's back; the owner
// renews, and the region comes back; deletion retires the grants.
func TestGrants_EndToEnd(t *testing.T) {
	t.Parallel()
	e := setup(t, grantMode)
	key := e.grantKey()
	resp := e.createCMEK("Grants", key)
	if resp.Status != http.StatusCreated {
		t.Fatalf("create org: %d %s", resp.Status, resp.Body)
	}
	org := resp.JSON(t)["id"].(string)
	member, owner := e.token(org, "member"), e.token(org, "owner")

	list := e.grantsOf(org, member)
	if len(list) != 1 {
		t.Fatalf("grants %v, want one", list)
	}
	g := list[0]
	wantName := "cmekd-" + org + "-" + home + "-data"
	if g["name"] != wantName || g["key_arn"] != key || g["region"] != home || g["purpose"] != "data" ||
		g["grantee_principal"] != kmstest.DataPrincipal || g["status"] != "active" || len(g["operations"].([]any)) != 6 {
		t.Fatalf("grant %v", g)
	}
	grantID := g["grant_id"].(string)
	inKMS := e.kmsGrants(key)
	if len(inKMS) != 1 || aws.ToString(inKMS[0].GrantId) != grantID || aws.ToString(inKMS[0].Name) != wantName ||
		aws.ToString(inKMS[0].RetiringPrincipal) != kmstest.ControlPrincipal ||
		inKMS[0].Constraints == nil || inKMS[0].Constraints.EncryptionContextSubset["cmekd:org"] != org {
		t.Fatalf("grants in KMS %+v", inKMS)
	}
	e.wantCount(1, "grant.created events", `SELECT count(*) FROM events WHERE org_id = $1 AND type = 'grant.created' AND details->>'grant_id' = $2`, org, grantID)

	col := e.collection(org, "events", true)["id"].(string)
	doc := e.ingest(org, col, map[string]any{"n": 1})[0]
	e.newScope(org, owner, "warehouse")
	e.expect(http.StatusCreated, e.putSecret(org, owner, "warehouse", "password", "hunter2"))
	var wrapped []byte
	if err := e.db.QueryRow(context.Background(), `
SELECT w.wrapped FROM wrapped_keys w JOIN data_keys d ON d.id = w.data_key_id WHERE d.purpose = 'documents' AND d.owner_id = $1`, col).Scan(&wrapped); err != nil {
		t.Fatal(err)
	}
	docCtx := map[string]string{"cmekd:org": org, "cmekd:collection": col}
	ctx := context.Background()
	control := e.kms.SDK(t, home, kmstest.ControlAccessKey)
	data := e.kms.SDK(t, home, kmstest.DataAccessKey)
	_, err := control.Decrypt(ctx, &awskms.DecryptInput{KeyId: aws.String(key), CiphertextBlob: wrapped, EncryptionContext: docCtx})
	wantAccessDenied(t, "the control identity's Decrypt of a data key", err)
	if _, err := data.Decrypt(ctx, &awskms.DecryptInput{KeyId: aws.String(key), CiphertextBlob: wrapped, EncryptionContext: docCtx}); err != nil {
		t.Fatalf("the data identity's Decrypt: %v", err)
	}
	other := map[string]string{"cmekd:org": "org_someoneelse", "cmekd:collection": col}
	_, err = data.Decrypt(ctx, &awskms.DecryptInput{KeyId: aws.String(key), CiphertextBlob: wrapped, EncryptionContext: other})
	wantAccessDenied(t, "the data identity's Decrypt under another organisation's context", err)
	_, err = data.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String(key), KeySpec: types.DataKeySpecAes256, EncryptionContext: other})
	wantAccessDenied(t, "the data identity's GenerateDataKey under another organisation's context", err)

	// The customer revokes the grant: the next probe finds access denied, the region halts, and the
	// probe made no new grant.
	if _, err := e.kms.SDK(t, home, e.kms.CustomerAccessKey).RevokeGrant(ctx, &awskms.RevokeGrantInput{
		KeyId: aws.String(key), GrantId: aws.String(grantID)}); err != nil {
		t.Fatal(err)
	}
	ks := e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: owner})
	region := ks["regions"].([]any)[0].(map[string]any)
	if region["status"] != "unavailable" || region["last_error"].(map[string]any)["code"] != "access_denied" {
		t.Fatalf("key status after revocation %v", region)
	}
	e.waitState(org, col, "ingest_halted")
	if got := e.kmsGrants(key); len(got) != 0 {
		t.Fatalf("the probe made a grant: %+v", got)
	}
	read := e.wantError(http.StatusConflict, "key_unavailable", req{method: "GET", path: docsPath(org, col) + "/" + doc, token: member})
	if reason := read.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["reason"]; reason != "access_denied" {
		t.Fatalf("read after revocation: reason %v", reason)
	}
	e.wantError(http.StatusConflict, "collection_ingest_halted", req{method: "POST", path: docsPath(org, col), token: owner,
		body: map[string]any{"documents": []any{map[string]any{"n": 2}}}})
	put := e.putSecret(org, owner, "warehouse", "password", "hunter3")
	if put.Status != http.StatusConflict || put.Code(t) != "key_unavailable" ||
		put.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["reason"] != "access_denied" {
		t.Fatalf("secret write after revocation: %d %s", put.Status, put.Body)
	}

	// The owner renews: a new grant, the old one retired on record, the region active again.
	e.wantError(http.StatusForbidden, "forbidden", req{method: "POST", path: "/v1/orgs/" + org + "/grants/renew", token: member})
	renewed := e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/grants/renew", token: owner})["grants"].([]any)
	if len(renewed) != 2 {
		t.Fatalf("grants after renewal %v", renewed)
	}
	statuses := map[string]string{}
	newID := ""
	for _, x := range renewed {
		m := x.(map[string]any)
		statuses[m["grant_id"].(string)] = m["status"].(string)
		if m["status"] == "active" {
			newID = m["grant_id"].(string)
		}
	}
	if statuses[grantID] != "retired" || newID == "" || newID == grantID {
		t.Fatalf("grants after renewal %v", renewed)
	}
	if got := e.kmsGrants(key); len(got) != 1 || aws.ToString(got[0].GrantId) != newID {
		t.Fatalf("grants in KMS after renewal %+v", got)
	}
	if st := e.keyStatus(org)["status"]; st != "healthy" {
		t.Fatalf("key status after renewal %v", st)
	}
	e.waitState(org, col, "active")
	if got := e.readDoc(org, col, doc); got != `{"n":1}` {
		t.Fatalf("read after renewal %s", got)
	}
	// A second renewal finds the grant in place and changes nothing.
	again := e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/grants/renew", token: owner})["grants"].([]any)
	if len(again) != 2 || len(e.kmsGrants(key)) != 1 {
		t.Fatalf("a renewal without a revoked grant changed grants: %v", again)
	}

	// Deletion retires the grants, and the admin's trail says so.
	e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + org, token: adminToken})
	eventually(t, 20*time.Second, "the grant to be retired", func() bool { return len(e.kmsGrants(key)) == 0 })
	eventually(t, 20*time.Second, "grant.retired in the admin's trail", func() bool {
		trail := e.must(http.StatusOK, req{method: "GET", path: "/v1/events?type=grant.retired", token: adminToken})["events"].([]any)
		for _, ev := range trail {
			m := ev.(map[string]any)
			if m["org_id"] == org && m["details"].(map[string]any)["grant_id"] == newID {
				return true
			}
		}
		return false
	})
	e.wantCount(0, "grants not retired on record", `SELECT count(*) FROM grants WHERE org_id = $1 AND status <> 'retired'`, org)
}

// TestGrants_KeyPolicyIsExactlyEnough: in grant mode too the generated policy makes every check pass,
// and without any one of its actions, or of the grant operations it lets the control identity give,
// the matching check fails.
func TestGrants_KeyPolicyIsExactlyEnough(t *testing.T) {
	t.Parallel()
	e := setup(t, grantMode)
	key := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{DefaultPolicy: true})
	doc := e.policyFor(key)
	for _, s := range doc["Statement"].([]any) {
		st := s.(map[string]any)
		for _, a := range st["Action"].([]any) {
			if st["Sid"] != "cmekdKeyOwnerAdministers" && (a == "kms:Encrypt" || a == "kms:Decrypt" || strings.HasPrefix(a.(string), "kms:GenerateDataKey")) {
				t.Fatalf("the control identity gets %s: %v", a, st)
			}
		}
	}
	e.putPolicy(key, doc)
	all := e.must(http.StatusOK, req{method: "POST", path: "/v1/key-checks", token: adminToken, body: map[string]any{"key_arn": key}})
	if all["ok"] != true {
		t.Fatalf("the generated policy is not enough: %s", all["checks"])
	}
	checks := grantChecks(t, all, true)
	if checks["create_grant"]["ok"] != true {
		t.Fatalf("no create_grant check: %v", all["checks"])
	}
	if got := e.kmsGrants(key); len(got) != 0 {
		t.Fatalf("a key check left grants behind: %+v", got)
	}
	if n := len(all["policy_statements"].([]any)); n != 2 {
		t.Fatalf("policy_statements %v", all["policy_statements"])
	}

	type cut struct {
		name, check, denied string
		trim                func(st map[string]any) bool // false: not this statement
	}
	dropAction := func(sid, action string) func(map[string]any) bool {
		return func(st map[string]any) bool {
			if st["Sid"] != sid {
				return false
			}
			st["Action"] = without(st["Action"].([]any), action)
			return true
		}
	}
	cuts := []cut{
		{"kms:DescribeKey", "describe_key", "kms:DescribeKey", dropAction("cmekdAllowUseOfTheKey", "kms:DescribeKey")},
		{"kms:CreateGrant", "create_grant", "kms:CreateGrant", dropAction("cmekdAllowGrantsToTheDataIdentity", "kms:CreateGrant")},
	}
	for _, op := range []string{"Encrypt", "Decrypt", "GenerateDataKey", "ReEncryptFrom", "ReEncryptTo", "DescribeKey"} {
		cuts = append(cuts, cut{"grant operation " + op, "create_grant", "kms:CreateGrant", func(st map[string]any) bool {
			if st["Sid"] != "cmekdAllowGrantsToTheDataIdentity" {
				return false
			}
			cond := st["Condition"].(map[string]any)["ForAllValues:StringEquals"].(map[string]any)
			cond["kms:GrantOperations"] = without(cond["kms:GrantOperations"].([]any), op)
			return true
		}})
	}
	for _, tc := range cuts {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			trimmed := e.policyFor(key)
			var statements []any
			found := false
			for _, s := range trimmed["Statement"].([]any) {
				st := s.(map[string]any)
				if tc.trim(st) {
					found = true
					if len(st["Action"].([]any)) == 0 {
						continue // its only action: the statement goes
					}
				}
				statements = append(statements, st)
			}
			if !found {
				t.Fatalf("no statement to trim for %s", tc.name)
			}
			trimmed["Statement"] = statements
			e.putPolicy(key, trimmed)
			resp := e.createCMEK("org "+tc.name, key)
			if resp.Status != http.StatusUnprocessableEntity {
				t.Fatalf("%d %s", resp.Status, resp.Body)
			}
			checks := grantChecks(t, resp.JSON(t), true)
			wantOnlyDenied(t, checks, tc.name, tc.check, tc.denied)
			if got := e.kmsGrants(key); len(got) != 0 {
				t.Fatalf("a failed verification left grants behind: %+v", got)
			}
		})
	}
	e.restorePolicy(t, key, doc)
}

// TestGrants_FailedVerificationRetiresItsGrants: a backup key that fails verification leaves no grant
// on the data key that passed; a backup key that is another key gets its own grant.
func TestGrants_FailedVerificationRetiresItsGrants(t *testing.T) {
	t.Parallel()
	e := setup(t, grantMode)
	dataKey := e.grantKey()
	bad := e.kms.CreateCustomerKey(t, home, kmstest.KeyOptions{DefaultPolicy: true})
	create := func(name, backup string) response {
		return e.do(req{method: "POST", path: "/v1/orgs", token: adminToken, body: map[string]any{
			"name": name, "region": home, "encryption": map[string]any{"mode": "customer_managed", "key_arn": dataKey, "backup_key_arn": backup}}})
	}
	if resp := create("bad backup", bad); resp.Status != http.StatusUnprocessableEntity {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	if got := e.kmsGrants(dataKey); len(got) != 0 {
		t.Fatalf("the data key keeps grants of a failed creation: %+v", got)
	}
	backup := e.grantKey()
	resp := create("good backup", backup)
	if resp.Status != http.StatusCreated {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	org := resp.JSON(t)["id"].(string)
	list := e.grantsOf(org, adminToken)
	var purposes []string
	for _, g := range list {
		purposes = append(purposes, g["purpose"].(string))
	}
	slices.Sort(purposes)
	if !slices.Equal(purposes, []string{"backup", "data"}) || len(e.kmsGrants(dataKey)) != 1 || len(e.kmsGrants(backup)) != 1 {
		t.Fatalf("grants %v", list)
	}
}

// TestGrants_SingleIdentityMakesNone: without CMEKD_DATA_PRINCIPAL nothing changes: no grants, no
// create_grant check, the use statement as the key policy has it.
func TestGrants_SingleIdentityMakesNone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	org, key := e.cmekOrg("one identity")
	if got := e.grantsOf(org, adminToken); len(got) != 0 {
		t.Fatalf("grants %v", got)
	}
	if got := e.kmsGrants(key); len(got) != 0 {
		t.Fatalf("grants in KMS %+v", got)
	}
	renewed := e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/grants/renew", token: adminToken})
	if len(renewed["grants"].([]any)) != 0 {
		t.Fatalf("renew %v", renewed)
	}
	kc := e.must(http.StatusOK, req{method: "POST", path: "/v1/key-checks", token: adminToken, body: map[string]any{"key_arn": key}})
	grantChecks(t, kc, false) // no create_grant
	if _, ok := kc["policy_statements"]; ok {
		t.Fatal("policy_statements with one identity")
	}
}

// TestGrants_TwoReplicasRetireEachGrantOnce: organisations deleted while two replicas run have each
// grant retired once: one RetireGrant, one grant.retired event.
func TestGrants_TwoReplicasRetireEachGrantOnce(t *testing.T) {
	t.Parallel()
	counter := &retireCounter{}
	e := setupWith(t, kmstest.StartEmulatorBehind(t, counter.wrap), grantMode)
	e.replica()
	key := e.grantKey() // one key shared by every organisation: the grants' constraint keeps them apart
	var orgs, ids []string
	for i := range 6 {
		resp := e.createCMEK("Shared "+string(rune('A'+i)), key)
		if resp.Status != http.StatusCreated {
			t.Fatalf("create org: %d %s", resp.Status, resp.Body)
		}
		org := resp.JSON(t)["id"].(string)
		orgs = append(orgs, org)
		ids = append(ids, e.grantsOf(org, adminToken)[0]["grant_id"].(string))
	}
	if got := e.kmsGrants(key); len(got) != len(orgs) {
		t.Fatalf("%d grants in KMS, want %d", len(got), len(orgs))
	}
	for _, org := range orgs {
		e.must(http.StatusNoContent, req{method: "DELETE", path: "/v1/orgs/" + url.PathEscape(org), token: adminToken})
	}
	eventually(t, 30*time.Second, "every grant retired", func() bool {
		return e.count(`SELECT count(*) FROM grants WHERE grant_id = ANY($1) AND status = 'retired'`, ids) == len(ids)
	})
	if got := e.kmsGrants(key); len(got) != 0 {
		t.Fatalf("grants left in KMS %+v", got)
	}
	for _, id := range ids {
		if n := counter.of(id); n != 1 {
			t.Errorf("grant %s: %d RetireGrant calls, want 1", id, n)
		}
		if n := e.count(`SELECT count(*) FROM events WHERE type = 'grant.retired' AND details->>'grant_id' = $1`, id); n != 1 {
			t.Errorf("grant %s: %d grant.retired events, want 1", id, n)
		}
	}
}

// TestGrants_BackupsGoThroughTheBackupKeysGrant: in grant mode a backup re-wraps data keys as the
// data identity through the data key's and the backup key's grants, restores through them, and
// once the customer revokes the backup key's grant, backups fail closed naming the backup key while
// the collection stays active.
func TestGrants_BackupsGoThroughTheBackupKeysGrant(t *testing.T) {
	t.Parallel()
	e := setup(t, grantMode)
	dataKey, backupKey := e.grantKey(), e.grantKey()
	o := e.must(http.StatusCreated, req{method: "POST", path: "/v1/orgs", token: adminToken, body: map[string]any{
		"name": "Backed up", "region": home,
		"encryption": map[string]any{"mode": "customer_managed", "key_arn": dataKey, "backup_key_arn": backupKey}}})
	org := o["id"].(string)
	col := e.collection(org, "events", true)["id"].(string)
	e.ingest(org, col, map[string]any{"n": 1}, map[string]any{"n": 2})
	want := e.allDocuments(org, col)
	bak := e.backup(org, col, adminToken)
	if bak["state"] != "complete" || bak["key_arn"] != backupKey {
		t.Fatalf("backup %v", bak)
	}
	restored := e.restore(org, bak["id"].(string), "events-restored")
	if got := e.allDocuments(org, restored["id"].(string)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("restored %q, want %q", got, want)
	}
	var backupGrant string
	for _, g := range e.grantsOf(org, adminToken) {
		if g["purpose"] == "backup" {
			backupGrant = g["grant_id"].(string)
		}
	}
	if backupGrant == "" {
		t.Fatal("the backup key has no grant")
	}
	if _, err := e.kms.SDK(t, home, e.kms.CustomerAccessKey).RevokeGrant(context.Background(), &awskms.RevokeGrantInput{
		KeyId: aws.String(backupKey), GrantId: aws.String(backupGrant)}); err != nil {
		t.Fatal(err)
	}
	r := e.wantError(http.StatusConflict, "key_unavailable", req{method: "POST", path: "/v1/orgs/" + org + "/collections/" + col + "/backups", token: adminToken})
	details := r.JSON(t)["error"].(map[string]any)["details"].(map[string]any)
	if details["purpose"] != "backup" || details["reason"] != "access_denied" {
		t.Fatalf("backup after revoking the backup key's grant: %v", details)
	}
	e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: adminToken})
	if ks := e.keyOf(org, "backup"); ks["status"] != "unavailable" {
		t.Fatalf("backup key status %v", ks)
	}
	if c := e.must(http.StatusOK, req{method: "GET", path: "/v1/orgs/" + org + "/collections/" + col, token: adminToken}); c["state"] != "active" {
		t.Fatalf("collection %v", c["state"])
	}
	// Renewal gives the backup key a new grant and leaves the data key's alone.
	e.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/grants/renew", token: adminToken})
	if ks := e.keyOf(org, "backup"); ks["status"] != "healthy" {
		t.Fatalf("backup key status after renewal %v", ks)
	}
	if n := len(e.kmsGrants(dataKey)); n != 1 {
		t.Fatalf("%d grants on the data key after renewal", n)
	}
	e.backup(org, col, adminToken)
}

// tokenWatch notes whether the data identity's GenerateDataKey calls carry grant tokens.
type tokenWatch struct {
	mu     sync.Mutex
	watch  bool
	tokens [][]string
}

func (w *tokenWatch) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "TrentService.GenerateDataKey" && strings.Contains(r.Header.Get("Authorization"), kmstest.DataAccessKey) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var in struct{ GrantTokens []string }
			_ = json.Unmarshal(body, &in)
			w.mu.Lock()
			if w.watch {
				w.tokens = append(w.tokens, in.GrantTokens)
			}
			w.mu.Unlock()
		}
		next.ServeHTTP(rw, r)
	})
}

// TestGrants_AnotherReplicaUsesTheNewGrantsToken: a grant one replica made is used by the others'
// data identity with its token, so that none depends on KMS having made the grant visible
// everywhere yet.
func TestGrants_AnotherReplicaUsesTheNewGrantsToken(t *testing.T) {
	t.Parallel()
	watch := &tokenWatch{}
	e := setupWith(t, kmstest.StartEmulatorBehind(t, watch.wrap), grantMode)
	other := e.replica()
	key := e.grantKey()
	resp := e.createCMEK("Two replicas", key)
	if resp.Status != http.StatusCreated {
		t.Fatalf("create org: %d %s", resp.Status, resp.Body)
	}
	org := resp.JSON(t)["id"].(string)
	watch.mu.Lock()
	watch.watch = true
	watch.mu.Unlock()
	eventually(t, 10*time.Second, "the other replica's probe to carry the grant's token", func() bool {
		other.must(http.StatusOK, req{method: "POST", path: "/v1/orgs/" + org + "/key-status/probe", token: adminToken})
		watch.mu.Lock()
		defer watch.mu.Unlock()
		last := watch.tokens[len(watch.tokens)-1]
		return len(last) == 1
	})
}
