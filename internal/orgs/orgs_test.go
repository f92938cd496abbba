package orgs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/idempotency"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/orgs"
	"github.com/cmekd/cmekd/internal/provider"
	awsprovider "github.com/cmekd/cmekd/internal/provider/aws"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/cmekd/cmekd/internal/verify"
)

var admin = domain.Principal{Role: domain.RoleAdmin}

type fixture struct {
	st    *store.Store
	env   *kmstest.Env
	svc   *orgs.Service
	trips *trips
}

func setup(t *testing.T) *fixture {
	t.Helper()
	counted := &trips{}
	st := testkit.OpenStore(t, testkit.Database(t), store.Options{Tracer: counted})
	env := kmstest.StartEmulator(t)
	rules := keyarn.Rules{Regions: []string{env.Region}}
	verifier := verify.New(env.PlatformClient(t), rules, verify.Options{Backoff: []time.Duration{}})
	providers := provider.NewSet(false, awsprovider.New(awsprovider.Config{Data: env.PlatformClient(t), Verifier: verifier, Rules: rules,
		PlatformPrincipal: env.PlatformPrincipal}))
	svc := orgs.New(orgs.Config{Store: st, Idempotency: idempotency.New(st, "test secret"), Logger: testkit.Discard(),
		Verifier: providers, Providers: providers, Rules: rules, PlatformPrincipal: env.PlatformPrincipal})
	return &fixture{st: st, env: env, svc: svc, trips: counted}
}

// trips counts the store's round trips to PostgreSQL: each query, batch (one pipeline) and statement
// preparation is one.
type trips struct{ n atomic.Int64 }

func (c *trips) count(ctx context.Context) context.Context { c.n.Add(1); return ctx }

func (c *trips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return c.count(ctx)
}

func (c *trips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return c.count(ctx)
}

func (c *trips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return c.count(ctx)
}

func (c *trips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData)     {}
func (c *trips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *trips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (c *trips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

func idOf(t *testing.T, o domain.Org) string {
	t.Helper()
	if o.ID == "" {
		t.Fatalf("the organisation made carries no id: %+v", o)
	}
	return o.ID
}

func (f *fixture) cmek(keyARN string) orgs.CreateInput {
	return orgs.CreateInput{Name: "acme", Region: f.env.Region,
		Encryption: &orgs.EncryptionInput{Mode: domain.ModeCustomerManaged, KeyARN: keyARN}}
}

func (f *fixture) create(t *testing.T, in orgs.CreateInput) domain.Org {
	t.Helper()
	a, err := f.svc.Create(t.Context(), admin, in, idempotency.Key{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := f.svc.Get(t.Context(), idOf(t, a))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (f *fixture) orgCount(t *testing.T) int {
	t.Helper()
	all, _, err := f.svc.List(t.Context(), admin, domain.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

func eventTypes(t *testing.T, f *fixture, orgID string) []string {
	t.Helper()
	evs, _, err := f.svc.Events(t.Context(), orgID, "", domain.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	return types
}

func wantCode(t *testing.T, err error, kind domain.Kind, code string) *domain.Error {
	t.Helper()
	e, ok := domain.AsError(err)
	if !ok || e.Kind != kind || e.Code != code {
		t.Fatalf("error %v, want kind %d code %s", err, kind, code)
	}
	return e
}

func TestOrgs_CreateCustomerManagedVerifiesAndLinks(t *testing.T) {
	t.Parallel()
	f := setup(t)
	keyARN := f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})
	o := f.create(t, f.cmek(keyARN))
	if o.Mode != domain.ModeCustomerManaged || o.KeyARN != keyARN || o.KeyStatus != domain.KeyHealthy || o.Name != "acme" {
		t.Fatalf("created %+v", o)
	}
	hs, err := f.st.KeyHealth(t.Context(), o.ID)
	if err != nil || len(hs) != 1 || hs[0].KeyARN != keyARN || hs[0].Status != domain.KeyHealthy {
		t.Fatalf("key health %+v, %v", hs, err)
	}
	if got := eventTypes(t, f, o.ID); len(got) != 2 || got[0] != domain.EventKeyVerified || got[1] != domain.EventOrgCreated {
		t.Fatalf("events %v, want key.verified after org.created", got)
	}
}

func TestOrgs_CreateProviderManagedCallsNoKMS(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.env.Freeze()
	t.Cleanup(f.env.Unfreeze)
	o := f.create(t, orgs.CreateInput{Name: "plain", Region: f.env.Region})
	if o.Mode != domain.ModeProviderManaged || o.KeyARN != "" || o.KeyStatus != domain.KeyHealthy {
		t.Fatalf("created %+v", o)
	}
	if got := eventTypes(t, f, o.ID); len(got) != 1 || got[0] != domain.EventOrgCreated {
		t.Fatalf("events %v, want org.created only", got)
	}
}

func TestOrgs_CreateWithFailingVerificationStoresNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	disabled := f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})
	if _, err := f.env.SDK(t, f.env.Region, f.env.CustomerAccessKey).DisableKey(t.Context(),
		&awskms.DisableKeyInput{KeyId: aws.String(disabled)}); err != nil {
		t.Fatal(err)
	}
	for name, keyARN := range map[string]string{
		"disabled key":           disabled,
		"policy without us":      f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{DefaultPolicy: true}),
		"key that never existed": "arn:aws:kms:us-east-1:111122223333:key/0b7d4d6e-0000-4000-8000-000000000000",
	} {
		_, err := f.svc.Create(t.Context(), admin, f.cmek(keyARN), idempotency.Key{})
		e := wantCode(t, err, domain.KindInvalid, domain.CodeKeyVerificationFailed)
		if checks, ok := e.Details["checks"].([]domain.Check); !ok || len(checks) != 11 {
			t.Errorf("%s: details %v, want the eleven checks", name, e.Details)
		}
	}
	good := f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})
	f.env.Freeze()
	_, err := f.svc.Create(t.Context(), admin, f.cmek(good), idempotency.Key{})
	f.env.Unfreeze()
	if e := wantCode(t, err, domain.KindUnavailable, domain.CodeKMSUnreachable); e.RetryAfter <= 0 {
		t.Errorf("kms_unreachable without Retry-After")
	}
	if n := f.orgCount(t); n != 0 {
		t.Fatalf("%d orgs stored after failed verifications", n)
	}
}

func TestOrgs_CreateRefusesBadInputBeforeKMS(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.env.Freeze() // validation must answer without asking KMS
	t.Cleanup(f.env.Unfreeze)
	good := "arn:aws:kms:us-east-1:111122223333:key/0b7d4d6e-0000-4000-8000-000000000000"
	for _, tc := range []struct {
		name string
		in   orgs.CreateInput
		code string
	}{
		{"no name", orgs.CreateInput{Region: "us-east-1"}, domain.CodeInvalidRequest},
		{"no region", orgs.CreateInput{Name: "a"}, domain.CodeInvalidRequest},
		{"a region not served", orgs.CreateInput{Name: "a", Region: "eu-west-1"}, domain.CodeUnsupportedRegion},
		{"an unknown mode", orgs.CreateInput{Name: "a", Region: "us-east-1", Encryption: &orgs.EncryptionInput{Mode: "both"}}, domain.CodeInvalidRequest},
		{"customer_managed without a key", orgs.CreateInput{Name: "a", Region: "us-east-1",
			Encryption: &orgs.EncryptionInput{Mode: domain.ModeCustomerManaged}}, domain.CodeKeyARNRequired},
		{"provider_managed with a key", orgs.CreateInput{Name: "a", Region: "us-east-1",
			Encryption: &orgs.EncryptionInput{Mode: domain.ModeProviderManaged, KeyARN: good}}, domain.CodeInvalidRequest},
		{"an alias", orgs.CreateInput{Name: "a", Region: "us-east-1",
			Encryption: &orgs.EncryptionInput{Mode: domain.ModeCustomerManaged, KeyARN: "arn:aws:kms:us-east-1:111122223333:alias/x"}}, domain.CodeAliasNotSupported},
	} {
		_, err := f.svc.Create(t.Context(), admin, tc.in, idempotency.Key{})
		if e, ok := domain.AsError(err); !ok || e.Kind != domain.KindInvalid || e.Code != tc.code {
			t.Errorf("%s: %v, want 422 %s", tc.name, err, tc.code)
		}
	}
	if n := f.orgCount(t); n != 0 {
		t.Fatalf("%d orgs stored", n)
	}
}

func TestOrgs_CreateReplaysIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	keyARN := f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})
	body := []byte(`{"name":"acme"}`)
	key, err := idempotency.New(nil, "test secret").Key("retry-1", "POST /v1/orgs", admin.Actor(), body)
	if err != nil {
		t.Fatal(err)
	}
	first, err := f.svc.Create(t.Context(), admin, f.cmek(keyARN), key)
	if err != nil {
		t.Fatal(err)
	}
	// Even a KMS outage does not stop a replay: nothing is verified again.
	f.env.Freeze()
	again, err := f.svc.Create(t.Context(), admin, f.cmek(keyARN), key)
	f.env.Unfreeze()
	if err != nil || again.ID != first.ID || again.Name != first.Name || !again.CreatedAt.Equal(first.CreatedAt) || again.KeyARN != first.KeyARN {
		t.Fatalf("replay = %+v, %v; want %+v", again, err, first)
	}
	if n := f.orgCount(t); n != 1 {
		t.Fatalf("%d orgs after a replay, want 1", n)
	}
	other, err := idempotency.New(nil, "test secret").Key("retry-1", "POST /v1/orgs", admin.Actor(), []byte(`{"name":"other"}`))
	if err != nil {
		t.Fatal(err)
	}
	in := f.cmek(keyARN)
	in.Name = "other"
	_, err = f.svc.Create(t.Context(), admin, in, other)
	wantCode(t, err, domain.KindInvalid, domain.CodeIdempotencyKeyReused)
	if n := f.orgCount(t); n != 1 {
		t.Fatalf("%d orgs after a reused key, want 1", n)
	}
}

// TestOrgs_CreateIsOneRoundTrip: a creation's transaction (BEGIN, the organisation, its key link
// and health row, its events, COMMIT) is one round trip to PostgreSQL; under an Idempotency-Key
// the look-up of an earlier answer is one more, and the answer is stored in the same pipeline.
func TestOrgs_CreateIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	f := setup(t)
	keyARN := f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})
	kp := idempotency.New(nil, "test secret")
	// Each kind runs twice, the first time preparing its statements on the connection.
	for i, tc := range []struct {
		header string
		want   int64
	}{{"", 1}, {"", 1}, {"first", 2}, {"second", 2}} {
		in := f.cmek(keyARN)
		in.Name = fmt.Sprint("acme ", i)
		key, err := kp.Key(tc.header, "POST /v1/orgs", admin.Actor(), []byte(in.Name))
		if err != nil {
			t.Fatal(err)
		}
		before := f.trips.n.Load()
		if _, err := f.svc.Create(t.Context(), admin, in, key); err != nil {
			t.Fatal(err)
		}
		if got := f.trips.n.Load() - before; got != tc.want && i%2 == 1 {
			t.Errorf("a creation with Idempotency-Key %q made %d round trips, want %d", tc.header, got, tc.want)
		}
	}
}

func TestOrgs_PatchRules(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cm := f.create(t, f.cmek(f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})))
	pm := f.create(t, orgs.CreateInput{Name: "plain", Region: f.env.Region})
	name := func(s string) *string { return &s }

	got, err := f.svc.Patch(t.Context(), admin, cm, orgs.PatchInput{Name: name("  Acme Corp ")})
	if err != nil || got.Name != "Acme Corp" {
		t.Fatalf("rename = %+v, %v", got, err)
	}
	if stored, _ := f.svc.Get(t.Context(), cm.ID); stored.Name != "Acme Corp" {
		t.Fatalf("stored name %q", stored.Name)
	}
	if _, err := f.svc.Patch(t.Context(), admin, got, orgs.PatchInput{Name: name("Acme Corp")}); err != nil {
		t.Fatalf("a rename to the same name: %v", err)
	}
	if evs, _, _ := f.svc.Events(t.Context(), cm.ID, domain.EventOrgRenamed, domain.Page{Limit: 10}); len(evs) != 1 {
		t.Fatalf("%d org.renamed events, want 1 (the unchanged name writes none)", len(evs))
	}
	for _, tc := range []struct {
		name string
		org  domain.Org
		in   orgs.PatchInput
		kind domain.Kind
		code string
	}{
		{"a taken name", pm, orgs.PatchInput{Name: name("acme corp")}, domain.KindConflict, domain.CodeOrgNameTaken},
		{"an empty name", pm, orgs.PatchInput{Name: name("  ")}, domain.KindInvalid, domain.CodeInvalidRequest},
		{"another key", cm, orgs.PatchInput{Encryption: json.RawMessage(`{"mode":"customer_managed","key_arn":"arn:aws:kms:us-east-1:111122223333:key/x"}`)},
			domain.KindConflict, domain.CodeKeyLinkImmutable},
		{"dropping the key", cm, orgs.PatchInput{Encryption: json.RawMessage(`{"mode":"provider_managed"}`)}, domain.KindConflict, domain.CodeKeyLinkImmutable},
		{"a key for a provider-managed org", pm, orgs.PatchInput{Encryption: json.RawMessage(`{"mode":"customer_managed"}`)},
			domain.KindConflict, domain.CodeCMEKRequiresNewOrg},
		{"a name with a key change", pm, orgs.PatchInput{Name: name("new"), Encryption: json.RawMessage(`null`)}, domain.KindConflict, domain.CodeKeyLinkImmutable},
	} {
		_, err := f.svc.Patch(t.Context(), admin, tc.org, tc.in)
		if e, ok := domain.AsError(err); !ok || e.Kind != tc.kind || e.Code != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if stored, _ := f.svc.Get(t.Context(), pm.ID); stored.Name != "plain" || stored.Mode != domain.ModeProviderManaged {
		t.Errorf("refused patches changed the org: %+v", stored)
	}
}

func TestOrgs_DeleteWritesOrgDeleted(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.create(t, f.cmek(f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})))
	if err := f.svc.Delete(t.Context(), admin, o); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(t.Context(), o.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("deleted org reads: %v", err)
	}
	evs, _, err := f.svc.Events(t.Context(), o.ID, domain.EventOrgDeleted, domain.Page{Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Actor != "admin" || evs[0].Region != o.Region {
		t.Fatalf("org.deleted events %+v, %v", evs, err)
	}
	if err := f.svc.Delete(t.Context(), admin, o); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	if evs, _, _ := f.svc.Events(t.Context(), o.ID, domain.EventOrgDeleted, domain.Page{Limit: 10}); len(evs) != 1 {
		t.Fatalf("%d org.deleted events after a failed second delete, want 1", len(evs))
	}
}
