package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

const region = "us-east-1"

func arnOf(n int) string {
	return fmt.Sprintf("arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-%012d", n)
}

type fixture struct {
	st    *store.Store
	clock *testkit.Clock
	n     int
}

// setup opens a store on a fresh database with a clock at t0.
func setup(t *testing.T) *fixture {
	t.Helper()
	clk := testkit.NewClock(t0)
	st := testkit.OpenStore(t, testkit.Database(t), store.Options{Clock: clk})
	return &fixture{st: st, clock: clk}
}

// inTx runs fn in a transaction and fails the test on its error.
func (f *fixture) inTx(t *testing.T, fn func(tx *store.Q) error) {
	t.Helper()
	if err := f.st.InTx(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// org stores an organisation of mode, created now, on a key of its own when customer-managed.
func (f *fixture) org(t *testing.T, mode string) domain.Org {
	t.Helper()
	f.n++
	o := domain.Org{ID: domain.NewID("org"), Name: fmt.Sprint("org ", f.n), Region: region, Mode: mode,
		KeyStatus: domain.KeyHealthy, CreatedAt: f.st.Now()}
	if mode == domain.ModeCustomerManaged {
		o.KeyARN = arnOf(f.n)
	}
	if err := f.st.InsertOrg(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	// As it reads back: its regions and links (without their times).
	o.Regions = []string{region}
	if mode == domain.ModeCustomerManaged {
		o.Links = []domain.KeyLink{{OrgID: o.ID, Region: region, Purpose: domain.PurposeData, KeyARN: o.KeyARN}}
	}
	return o
}

func (f *fixture) collection(t *testing.T, orgID, reg string) domain.Collection {
	t.Helper()
	f.n++
	now := f.st.Now()
	c := domain.Collection{ID: domain.NewID("col"), OrgID: orgID, Name: fmt.Sprint("col ", f.n), Region: reg,
		State: domain.StateActive, StateChangedAt: now, Recoverable: true, CreatedAt: now}
	if err := f.st.InsertCollection(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) dataKey(t *testing.T, orgID, ownerID, keyARN string, uses int) store.DataKey {
	t.Helper()
	k := store.DataKey{ID: domain.NewID("dek"), OrgID: orgID, Purpose: "documents", OwnerID: ownerID, KeyARN: keyARN,
		Wrapped: []byte("wrapped " + ownerID), Uses: uses, CreatedAt: f.st.Now()}
	if err := f.st.InsertDataKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return k
}

func (f *fixture) documents(t *testing.T, col domain.Collection, dk store.DataKey, n int) []store.SealedDocument {
	t.Helper()
	docs := make([]store.SealedDocument, n)
	for i := range docs {
		docs[i] = store.SealedDocument{ID: domain.NewID("doc"), OrgID: col.OrgID, CollectionID: col.ID, DataKeyID: dk.ID, AADVersion: 2,
			Nonce: bytes.Repeat([]byte{byte(i)}, 12), Ciphertext: []byte(fmt.Sprint("ciphertext ", i)), CreatedAt: f.st.Now()}
	}
	if err := f.st.InsertDocuments(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

func (f *fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	n, err := f.st.Count(t.Context(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantCode fails unless err is a domain error of kind and code.
func wantCode(t *testing.T, err error, kind domain.Kind, code string) {
	t.Helper()
	e, ok := domain.AsError(err)
	if !ok || e.Kind != kind || e.Code != code {
		t.Fatalf("error %v, want kind %d code %s", err, kind, code)
	}
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// token stores a live member token of the organisation, created now, its secret hashed from its id.
func (f *fixture) token(t *testing.T, orgID string) domain.Token {
	t.Helper()
	f.n++
	tok := domain.Token{ID: domain.NewID("tok"), OrgID: orgID, Name: fmt.Sprint("tok ", f.n), Role: domain.RoleMember, CreatedAt: f.st.Now()}
	if err := f.st.InsertToken(t.Context(), tok, hash(tok.ID)); err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestStore_InTx_RollsBackOnError(t *testing.T) {
	t.Parallel()
	f := setup(t)
	boom := errors.New("boom")
	var id string
	err := f.st.InTx(t.Context(), func(tx *store.Q) error {
		o := domain.Org{ID: domain.NewID("org"), Name: "gone", Region: region, Mode: domain.ModeProviderManaged, CreatedAt: tx.Now()}
		id = o.ID
		if err := tx.InsertOrg(t.Context(), o); err != nil {
			return err
		}
		if err := tx.InsertEvent(t.Context(), domain.Event{OrgID: o.ID, Type: domain.EventOrgCreated}); err != nil {
			return err
		}
		return fmt.Errorf("late failure: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want the function's error", err)
	}
	if _, err := f.st.Org(t.Context(), id); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the org of a rolled-back transaction reads: %v", err)
	}
	if n := f.count(t, `SELECT count(*) FROM events`); n != 0 {
		t.Errorf("%d events of a rolled-back transaction", n)
	}
}

func TestStore_InTx_StampsOneInstant(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.clock.Set(t0.Add(1234567 * time.Nanosecond))
	err := f.st.InTx(t.Context(), func(tx *store.Q) error {
		first := tx.Now()
		f.clock.Advance(time.Hour)
		if !tx.Now().Equal(first) || !first.Equal(t0.Add(1234*time.Microsecond)) {
			return fmt.Errorf("Now moved inside a transaction or kept nanoseconds: %v then %v", first, tx.Now())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.st.Now(); !got.Equal(t0.Add(time.Hour + 1234*time.Microsecond)) {
		t.Fatalf("outside a transaction Now = %v", got)
	}
}

func TestStore_Ready_WhenMigrated(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if err := f.st.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Exec(t.Context(), `DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Ready(t.Context()); err == nil {
		t.Fatal("Ready with a migration pending")
	}
}

func TestStore_Tokens(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeProviderManaged)
	var toks []domain.Token
	for range 3 {
		toks = append(toks, f.token(t, o.ID))
		f.clock.Advance(time.Second)
	}
	got, err := f.st.TokenByHash(t.Context(), hash(toks[1].ID))
	if err != nil || got != toks[1] {
		t.Fatalf("TokenByHash = %+v, %v; want %+v", got, err, toks[1])
	}
	if err := f.st.RevokeToken(t.Context(), o.ID, toks[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.TokenByHash(t.Context(), hash(toks[1].ID)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a revoked token authenticates: %v", err)
	}
	if err := f.st.RevokeToken(t.Context(), o.ID, toks[1].ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("second revoke: %v, want ErrNotFound", err)
	}
	if err := f.st.RevokeToken(t.Context(), "org_other", toks[0].ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("revoke through another org: %v, want ErrNotFound", err)
	}
	pages := allPages(t, 1, func(p domain.Page) ([]domain.Token, string, error) { return f.st.Tokens(t.Context(), o.ID, p) })
	if ids := flat(pages, func(tk domain.Token) string { return tk.ID }); !slices.Equal(ids, []string{toks[0].ID, toks[2].ID}) {
		t.Fatalf("live tokens %v, want %s and %s", ids, toks[0].ID, toks[2].ID)
	}
	if err := f.st.InsertToken(t.Context(), domain.Token{ID: domain.NewID("tok"), OrgID: o.ID, Name: "dup", Role: domain.RoleMember,
		CreatedAt: f.st.Now()}, hash(toks[0].ID)); err == nil {
		t.Fatal("a second token with the same secret hash was stored")
	}
}

func TestStore_Events_NewestFirstByType(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeProviderManaged)
	types := []string{domain.EventOrgCreated, domain.EventTokenCreated, domain.EventTokenCreated, domain.EventTokenRevoked, domain.EventTokenCreated}
	for _, typ := range types {
		if err := f.st.InsertEvent(t.Context(), domain.Event{OrgID: o.ID, Type: typ, Actor: "admin"}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
	}
	if err := f.st.InsertEvent(t.Context(), domain.Event{OrgID: "org_other", Type: domain.EventOrgCreated}); err != nil {
		t.Fatal(err)
	}
	pages := allPages(t, 2, func(p domain.Page) ([]domain.Event, string, error) { return f.st.Events(t.Context(), o.ID, "", p) })
	evs := flat(pages, func(e domain.Event) domain.Event { return e })
	if len(evs) != 5 || !slices.Equal(sizes(pages), []int{2, 2, 1}) {
		t.Fatalf("pages %v, want [2 2 1]", sizes(pages))
	}
	for i, e := range evs {
		wantType, wantAt := types[len(types)-1-i], t0.Add(time.Duration(len(types)-1-i)*time.Second)
		if e.Type != wantType || !e.At.Equal(wantAt) || e.ID == "" || e.Actor != "admin" {
			t.Errorf("event %d = %+v, want %s at %v with an id", i, e, wantType, wantAt)
		}
	}
	tokens := allPages(t, 2, func(p domain.Page) ([]domain.Event, string, error) {
		return f.st.Events(t.Context(), o.ID, domain.EventTokenCreated, p)
	})
	if !slices.Equal(sizes(tokens), []int{2, 1}) {
		t.Errorf("token.created pages %v, want [2 1]", sizes(tokens))
	}
}

// health reads the one key health row of an org.
