package verify_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/grants"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/cmekd/cmekd/internal/verify"
)

const (
	grantOK       = "arn describe_key key_state key_usage key_spec key_manager multi_region create_grant generate_data_key decrypt re_encrypt encrypt"
	grantHealthOK = "arn describe_key key_state key_usage key_spec key_manager multi_region generate_data_key decrypt"
)

// grantFixture is a verifier in grant mode against an emulator whose GenerateDataKey can be made to
// answer access denied (deny), with a key carrying grant mode's generated policy.
type grantFixture struct {
	env  *kmstest.Env
	v    *verify.Verifier
	key  string
	deny atomic.Bool
}

func newGrantFixture(t *testing.T) *grantFixture {
	t.Helper()
	f := &grantFixture{}
	f.env = kmstest.StartEmulatorBehind(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if f.deny.Load() && r.Header.Get("X-Amz-Target") == "TrentService.GenerateDataKey" {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"__type":"AccessDeniedException","message":"injected"}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	f.key = f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{Policy: grantPolicy(t, f.env)})
	st := testkit.OpenStore(t, testkit.Database(t), store.Options{})
	control, data := f.env.ClientAs(t, kmstest.ControlAccessKey), f.env.ClientAs(t, kmstest.DataAccessKey)
	granter := grants.NewGranter(grants.GranterConfig{Control: control, Data: data, ControlPrincipal: kmstest.ControlPrincipal,
		DataPrincipal: kmstest.DataPrincipal, Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.v = verify.New(control, keyarn.Rules{Regions: regions}, verify.Options{Backoff: []time.Duration{}, Data: data, Granter: granter})
	return f
}

// grantPolicy is grant mode's generated whole policy for a key of env (its ARN is not known yet:
// the statements name no key).
func grantPolicy(t *testing.T, env *kmstest.Env) string {
	t.Helper()
	return kmstest.GrantPolicy(t, "arn:aws:kms:"+env.Region+":"+env.Account+":key/1234abcd-12ab-34cd-56ef-1234567890ab")
}

func (f *grantFixture) run(req verify.Request) verify.Report {
	req.Key, req.Region = f.key, f.env.Region
	if req.OrgID == "" {
		req.OrgID = "org_grants"
	}
	return f.v.Run(context.Background(), req)
}

// TestVerify_GrantModeAttachesAGrantAndUsesIt: create_grant runs after the metadata checks, and the
// crypto checks pass as the data identity through the new grant, which the report keeps.
func TestVerify_GrantModeAttachesAGrantAndUsesIt(t *testing.T) {
	t.Parallel()
	f := newGrantFixture(t)
	if !f.v.GrantMode() {
		t.Fatal("not in grant mode")
	}
	name := grants.Name("org_grants", f.env.Region, "data")
	r := f.run(verify.Request{Steps: verify.Full, Grant: name})
	if got := summary(r); got != grantOK {
		t.Fatalf("checks %s, want %s", got, grantOK)
	}
	if r.Grant == nil || !r.Grant.New || r.Grant.Name != name {
		t.Fatalf("report grant %+v", r.Grant)
	}
	if ids := f.env.GrantIDs(t, f.key); len(ids) != 1 || ids[0] != r.Grant.ID {
		t.Fatalf("grants in KMS %v, want %s", ids, r.Grant.ID)
	}
	// The probe attaches nothing: its crypto steps go through the grant there is.
	if got := summary(f.run(verify.Request{Steps: verify.Health})); got != grantHealthOK {
		t.Fatalf("probe %s", got)
	}
	// Another organisation's context is not the grant's: the probe fails.
	if got := summary(f.run(verify.Request{Steps: verify.Health, OrgID: "org_other"})); !strings.Contains(got, "generate_data_key=access_denied") {
		t.Fatalf("probe under another organisation's context: %s", got)
	}
	// The same name again is the grant on record: not new, and a failure does not retire it.
	f.deny.Store(true)
	again := f.run(verify.Request{Steps: verify.Full, Grant: name, KnownGrant: r.Grant.ID})
	f.deny.Store(false)
	if again.OK() || again.Grant != nil {
		t.Fatalf("failed verification %s kept %+v", summary(again), again.Grant)
	}
	if ids := f.env.GrantIDs(t, f.key); len(ids) != 1 || ids[0] != r.Grant.ID {
		t.Fatalf("a failed verification retired the grant on record: %v", ids)
	}
	f.env.RevokeGrant(t, f.key, r.Grant.ID)
	if got := summary(f.run(verify.Request{Steps: verify.Health})); !strings.Contains(got, "generate_data_key=access_denied(kms:GenerateDataKey)") {
		t.Fatalf("probe after revocation: %s", got)
	}
	if ids := f.env.GrantIDs(t, f.key); len(ids) != 0 {
		t.Fatalf("the probe made a grant: %v", ids)
	}
}

// TestVerify_GrantModeRetiresWhatItMade: a failed verification and a key check leave no grant.
func TestVerify_GrantModeRetiresWhatItMade(t *testing.T) {
	t.Parallel()
	f := newGrantFixture(t)
	f.deny.Store(true)
	r := f.run(verify.Request{Steps: verify.Full, Grant: grants.Name("org_grants", f.env.Region, "data")})
	f.deny.Store(false)
	if got := summary(r); !strings.Contains(got, "create_grant generate_data_key=access_denied(kms:GenerateDataKey)") || r.Grant != nil {
		t.Fatalf("checks %s, grant %+v", got, r.Grant)
	}
	if ids := f.env.GrantIDs(t, f.key); len(ids) != 0 {
		t.Fatalf("a failed verification left grants %v", ids)
	}
	check := f.run(verify.Request{Steps: verify.Full, Grant: grants.CheckName(), Ephemeral: true, OrgID: verify.OnboardingContext})
	if got := summary(check); got != grantOK || check.Grant != nil {
		t.Fatalf("key check %s kept %+v", got, check.Grant)
	}
	if ids := f.env.GrantIDs(t, f.key); len(ids) != 0 {
		t.Fatalf("a key check left grants %v", ids)
	}
}

// TestVerify_GrantModeWithoutCreateGrant: a policy without the grants statement fails create_grant,
// naming kms:CreateGrant, and the crypto checks are skipped; a bad ARN skips create_grant too.
func TestVerify_GrantModeWithoutCreateGrant(t *testing.T) {
	t.Parallel()
	f := newGrantFixture(t)
	f.env.PutPolicy(t, f.key, policyAllowingPrincipal(f.env, kmstest.ControlPrincipal, "kms:DescribeKey"))
	r := f.run(verify.Request{Steps: verify.Full, Grant: "cmekd-x"})
	want := "arn describe_key key_state key_usage key_spec key_manager multi_region create_grant=access_denied(kms:CreateGrant) " +
		"generate_data_key=skipped decrypt=skipped re_encrypt=skipped encrypt=skipped"
	if got := summary(r); got != want {
		t.Fatalf("checks %s\nwant   %s", got, want)
	}
	bad := f.v.Run(context.Background(), verify.Request{Key: "alias/x", Steps: verify.Full, Grant: "cmekd-x", OrgID: "org_x"})
	if got := summary(bad); !strings.Contains(got, "create_grant=skipped") {
		t.Fatalf("bad ARN: %s", got)
	}
}
