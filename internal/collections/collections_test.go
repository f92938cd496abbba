package collections_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cmekd/cmekd/internal/collections"
	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/idempotency"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/doctest"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/cmekd/cmekd/internal/verify"
)

var admin = domain.Principal{Role: domain.RoleAdmin}

type fixture struct {
	st   *store.Store
	env  *kmstest.Env
	svc  *collections.Service
	docs *documents.Service
}

func setup(t *testing.T) *fixture {
	t.Helper()
	st := testkit.OpenStore(t, testkit.Database(t), store.Options{})
	env := kmstest.StartEmulator(t)
	platform := env.PlatformClient(t)
	hs := health.New(health.Config{Store: st, Logger: testkit.Discard(), Interval: time.Minute, PauseAfter: 6 * time.Hour,
		Verifier: verify.New(platform, keyarn.Rules{Regions: []string{env.Region}}, verify.Options{Backoff: []time.Duration{}})})
	docs, _ := doctest.New(st, platform, doctest.Options{MaxUses: 100, CacheEntries: 10})
	return &fixture{st: st, env: env, svc: collections.New(collections.Config{Store: st, Health: hs}), docs: docs}
}

// org stores a customer-managed organisation on a fresh key of the emulator.
func (f *fixture) org(t *testing.T) domain.Org {
	t.Helper()
	o := domain.Org{ID: domain.NewID("org"), Name: domain.NewID("name"), Region: f.env.Region, Mode: domain.ModeCustomerManaged,
		KeyARN: f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{}), CreatedAt: f.st.Now()}
	if err := f.st.InsertOrg(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	return o
}

func (f *fixture) create(t *testing.T, o domain.Org, name string, recoverable bool) domain.Collection {
	t.Helper()
	c, err := f.svc.Create(t.Context(), admin, o, collections.CreateInput{Name: name, Recoverable: &recoverable})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) setKey(t *testing.T, orgID, status, code string) {
	t.Helper()
	hs, err := f.st.KeyHealth(t.Context(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	h := hs[0]
	h.Status, h.LastError = status, nil
	if code != "" {
		h.LastError = &domain.ProbeError{Code: code, Action: "kms:Decrypt", Message: "refused"}
	}
	if err := f.st.SaveKeyHealth(t.Context(), h); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) pause(t *testing.T, c domain.Collection) {
	t.Helper()
	if err := f.st.SetCollectionState(t.Context(), c.ID, domain.StatePaused, domain.CodeKeyDisabled, f.st.Now()); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) events(t *testing.T, orgID, typ string) []domain.Event {
	t.Helper()
	evs, _, err := f.st.Events(t.Context(), orgID, typ, domain.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (f *fixture) state(t *testing.T, c domain.Collection) string {
	t.Helper()
	got, err := f.svc.Get(t.Context(), c.OrgID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got.State
}

func TestCollections_CreateTakesItsStateFromTheKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	healthy, unavailable := f.org(t), f.org(t)
	f.setKey(t, unavailable.ID, domain.KeyUnavailable, domain.CodeKeyDisabled)
	provider := domain.Org{ID: domain.NewID("org"), Name: "provider", Region: f.env.Region, Mode: domain.ModeProviderManaged, CreatedAt: f.st.Now()}
	if err := f.st.InsertOrg(t.Context(), provider); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		org           domain.Org
		state, reason string
	}{
		{healthy, domain.StateActive, ""},
		{provider, domain.StateActive, ""},
		{unavailable, domain.StateIngestHalted, domain.CodeKeyDisabled},
	} {
		c := f.create(t, tc.org, "docs", true)
		got, err := f.svc.Get(t.Context(), tc.org.ID, c.ID)
		if err != nil || got != c || c.State != tc.state || c.StateReason != tc.reason || c.Region != tc.org.Region || !c.Recoverable {
			t.Errorf("%s: created %+v, stored %+v (%v); want %s %q", tc.org.Mode, c, got, err, tc.state, tc.reason)
		}
		evs := f.events(t, tc.org.ID, domain.EventCollectionCreated)
		if len(evs) != 1 || evs[0].CollectionID != c.ID || evs[0].ToState != tc.state || evs[0].Reason != tc.reason {
			t.Errorf("%s: collection.created events %+v", tc.org.Mode, evs)
		}
	}
}

func TestCollections_CreateRefusesNames(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t)
	f.create(t, o, "docs", true)
	_, err := f.svc.Create(t.Context(), admin, o, collections.CreateInput{Name: "docs"})
	if e, ok := domain.AsError(err); !ok || e.Kind != domain.KindConflict || e.Code != domain.CodeCollectionNameTaken {
		t.Errorf("a taken name: %v", err)
	}
	_, err = f.svc.Create(t.Context(), admin, o, collections.CreateInput{Name: "\x00"})
	if e, ok := domain.AsError(err); !ok || e.Code != domain.CodeInvalidRequest {
		t.Errorf("a control character: %v", err)
	}
	if cols, _, err := f.svc.List(t.Context(), o.ID, domain.Page{Limit: 10}); err != nil || len(cols) != 1 {
		t.Errorf("%d collections, %v; want 1", len(cols), err)
	}
}

func TestCollections_DeleteRemovesDocumentsAndDataKeys(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t)
	gone, kept := f.create(t, o, "gone", true), f.create(t, o, "kept", true)
	for _, c := range []domain.Collection{gone, kept} {
		if _, err := f.docs.Ingest(t.Context(), o.ID, c.ID,
			[]json.RawMessage{json.RawMessage(`{"a":1}`), json.RawMessage(`{"b":2}`)}, idempotency.Key{}); err != nil {
			t.Fatal(err)
		}
	}
	sealed, _, err := f.st.Documents(t.Context(), o.ID, gone.ID, domain.Page{Limit: 10})
	if err != nil || len(sealed) != 2 {
		t.Fatalf("%d documents, %v", len(sealed), err)
	}
	if err := f.svc.Delete(t.Context(), admin, o.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(t.Context(), o.ID, gone.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("deleted collection reads: %v", err)
	}
	if _, err := f.st.WrappedDataKey(t.Context(), sealed[0].DataKeyID, o.KeyARN); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the deleted collection's data key reads: %v", err)
	}
	if left, _, err := f.st.Documents(t.Context(), o.ID, gone.ID, domain.Page{Limit: 10}); err != nil || len(left) != 0 {
		t.Errorf("%d documents left, %v", len(left), err)
	}
	if p, err := f.docs.List(t.Context(), o.ID, kept.ID, domain.Page{Limit: 10}); err != nil || len(p.Docs) != 2 {
		t.Errorf("the other collection reads %+v, %v; want 2 documents", p, err)
	}
	evs := f.events(t, o.ID, domain.EventCollectionDeleted)
	if len(evs) != 1 || evs[0].CollectionID != gone.ID || evs[0].FromState != domain.StateActive || evs[0].Actor != "admin" {
		t.Errorf("collection.deleted events %+v", evs)
	}
	if err := f.svc.Delete(t.Context(), admin, o.ID, gone.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestCollections_ResumeRules(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t)
	active := f.create(t, o, "active", true)
	unrecoverable := f.create(t, o, "unrecoverable", false)
	f.pause(t, unrecoverable)
	for _, tc := range []struct {
		name string
		col  domain.Collection
		code string
	}{
		{"an active collection", active, domain.CodeCollectionNotPaused},
		{"an unrecoverable collection", unrecoverable, domain.CodeCollectionUnrecoverable},
	} {
		_, err := f.svc.Resume(t.Context(), admin, o.ID, tc.col.ID)
		if e, ok := domain.AsError(err); !ok || e.Kind != domain.KindConflict || e.Code != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if _, err := f.svc.Resume(t.Context(), admin, o.ID, "col_missing"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("an unknown collection: %v", err)
	}
	if got := f.state(t, unrecoverable); got != domain.StatePaused {
		t.Errorf("the unrecoverable collection is %s", got)
	}
}

func TestCollections_ResumeOnAHealthyKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t)
	c := f.create(t, o, "docs", true)
	f.pause(t, c)
	f.setKey(t, o.ID, domain.KeyUnavailable, domain.CodeKeyDisabled)
	got, err := f.svc.Resume(t.Context(), admin, o.ID, c.ID)
	if err != nil || got.State != domain.StateActive || got.StateReason != "" {
		t.Fatalf("Resume = %+v, %v; want active", got, err)
	}
	if s := f.state(t, c); s != domain.StateActive {
		t.Fatalf("stored state %s", s)
	}
	evs := f.events(t, o.ID, domain.EventCollectionResumed)
	if len(evs) != 1 || evs[0].CollectionID != c.ID || evs[0].FromState != domain.StatePaused || evs[0].ToState != domain.StateActive {
		t.Fatalf("collection.resumed events %+v", evs)
	}
	hs, err := f.st.KeyHealth(t.Context(), o.ID)
	if err != nil || hs[0].Status != domain.KeyHealthy {
		t.Fatalf("key health after resume %+v, %v; want healthy", hs, err)
	}
}

func TestCollections_ResumeRefusedWhileTheKeyIsUnusable(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t)
	c := f.create(t, o, "docs", true)
	f.pause(t, c)
	if _, err := f.env.SDK(t, f.env.Region, f.env.CustomerAccessKey).DisableKey(t.Context(),
		&awskms.DisableKeyInput{KeyId: aws.String(o.KeyARN)}); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Resume(t.Context(), admin, o.ID, c.ID)
	if e, ok := domain.AsError(err); !ok || e.Kind != domain.KindConflict || e.Code != domain.CodeKeyUnavailable || e.Details["reason"] != domain.CodeKeyDisabled {
		t.Fatalf("Resume on a disabled key: %#v", err)
	}
	f.env.Freeze()
	_, err = f.svc.Resume(t.Context(), admin, o.ID, c.ID)
	f.env.Unfreeze()
	if e, ok := domain.AsError(err); !ok || e.Kind != domain.KindUnavailable || e.Code != domain.CodeKMSUnreachable {
		t.Fatalf("Resume during an outage: %#v", err)
	}
	if s := f.state(t, c); s != domain.StatePaused {
		t.Fatalf("state %s, want still paused", s)
	}
	if evs := f.events(t, o.ID, domain.EventCollectionResumed); len(evs) != 0 {
		t.Fatalf("collection.resumed written: %+v", evs)
	}
}
