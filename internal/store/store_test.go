package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
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

// allPages reads a list page by page, following cursors, and checks the last cursor is empty.
func allPages[T any](t *testing.T, limit int, fetch func(domain.Page) ([]T, string, error)) [][]T {
	t.Helper()
	var pages [][]T
	page := domain.Page{Limit: limit}
	for range 100 {
		items, next, err := fetch(page)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, items)
		if next == "" {
			return pages
		}
		page.Cursor = next
	}
	t.Fatal("the cursor never ran out")
	return nil
}

func sizes[T any](pages [][]T) []int {
	var n []int
	for _, p := range pages {
		n = append(n, len(p))
	}
	return n
}

// wantPaged fails unless pages hold the items want names, by id, in pages of sizes.
func wantPaged[T any](t *testing.T, pages [][]T, id func(T) string, want []string, wantSizes ...int) {
	t.Helper()
	if got := flat(pages, id); !reflect.DeepEqual(got, want) || !reflect.DeepEqual(sizes(pages), wantSizes) {
		t.Errorf("pages %v of %v, want %v of %v", sizes(pages), got, wantSizes, want)
	}
}

func flat[T, K any](pages [][]T, key func(T) K) []K {
	var out []K
	for _, p := range pages {
		for _, v := range p {
			out = append(out, key(v))
		}
	}
	return out
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
