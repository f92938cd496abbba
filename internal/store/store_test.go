package store_test

import (
	"bytes"
	"crypto/sha256"
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
	st, err := store.Open(t.Context(), testkit.Database(t), store.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return &fixture{st: st, clock: clk}
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

func flat[T, K any](pages [][]T, key func(T) K) []K {
	var out []K
	for _, p := range pages {
		for _, v := range p {
			out = append(out, key(v))
		}
	}
	return out
}

func TestStore_InsertOrg_ReadsBack(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, mode := range []string{domain.ModeCustomerManaged, domain.ModeProviderManaged} {
		want := f.org(t, mode)
		got, err := f.st.Org(t.Context(), want.ID)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Org = %+v, %v; want %+v", mode, got, err, want)
		}
	}
	// Only the customer-managed organisation has a key to watch.
	if n := f.count(t, `SELECT count(*) FROM key_health`); n != 1 {
		t.Errorf("%d key_health rows, want 1", n)
	}
}

func TestStore_Org_UnknownIsNotFound(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, err := f.st.Org(t.Context(), "org_missing")
	if !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Org of an unknown id: %v, want ErrNotFound", err)
	}
}

func TestStore_InsertOrg_NameTakenIgnoringCase(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeProviderManaged)
	err := f.st.InsertOrg(t.Context(), domain.Org{ID: domain.NewID("org"), Name: "ORG 1", Region: region,
		Mode: domain.ModeProviderManaged, CreatedAt: f.st.Now()})
	wantCode(t, err, domain.KindConflict, domain.CodeOrgNameTaken)
	if o.Name != "org 1" {
		t.Fatalf("fixture named the org %q", o.Name)
	}
}

func TestStore_KeyLink_IsForGood(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	err := f.st.Exec(t.Context(), `UPDATE key_links SET key_arn = $2 WHERE org_id = $1`, o.ID, arnOf(99))
	wantCode(t, err, domain.KindConflict, domain.CodeKeyLinkImmutable)
	err = f.st.InsertKeyLink(t.Context(), domain.KeyLink{OrgID: o.ID, Region: region, Purpose: domain.PurposeData,
		KeyARN: arnOf(99), CreatedAt: f.st.Now()})
	if err == nil {
		t.Fatal("a second link of the same region and purpose was stored")
	}
	got, err := f.st.Org(t.Context(), o.ID)
	if err != nil || got.KeyARN != o.KeyARN {
		t.Fatalf("after the refused changes the org is linked to %q (%v), want %q", got.KeyARN, err, o.KeyARN)
	}
}

// A backup key is monitored like the data key (SPEC §11): its link has its own health row, listed
// after the data key's.
func TestStore_InsertKeyLink_BackupHasItsOwnHealthRow(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	if err := f.st.InsertKeyLink(t.Context(), domain.KeyLink{OrgID: o.ID, Region: region, Purpose: domain.PurposeBackup,
		KeyARN: arnOf(98), CreatedAt: f.st.Now()}); err != nil {
		t.Fatal(err)
	}
	hs, err := f.st.KeyHealth(t.Context(), o.ID)
	if err != nil || len(hs) != 2 || hs[0].KeyARN != o.KeyARN || hs[0].Purpose != domain.PurposeData ||
		hs[1].KeyARN != arnOf(98) || hs[1].Purpose != domain.PurposeBackup || hs[1].Status != domain.KeyHealthy {
		t.Fatalf("KeyHealth = %+v, %v; want the data key, then the backup key", hs, err)
	}
	got, err := f.st.Org(t.Context(), o.ID)
	if k, ok := got.LinkedKey(region, domain.PurposeBackup); err != nil || !ok || k != arnOf(98) || got.BackupKeyARN != arnOf(98) {
		t.Fatalf("Org = %+v, %v; want the backup key among its links", got, err)
	}
}

func TestStore_Orgs_PagesOldestFirst(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var want []string
	for range 5 {
		want = append(want, f.org(t, domain.ModeProviderManaged).ID)
		f.clock.Advance(time.Second)
	}
	pages := allPages(t, 2, func(p domain.Page) ([]domain.Org, string, error) { return f.st.Orgs(t.Context(), p, "") })
	if got := sizes(pages); !reflect.DeepEqual(got, []int{2, 2, 1}) {
		t.Errorf("page sizes %v, want [2 2 1]", got)
	}
	if got := flat(pages, func(o domain.Org) string { return o.ID }); !reflect.DeepEqual(got, want) {
		t.Errorf("orgs %v, want %v", got, want)
	}
	// A page that ends exactly at the last row has no next page.
	if _, next, err := f.st.Orgs(t.Context(), domain.Page{Limit: 5}, ""); err != nil || next != "" {
		t.Errorf("a full last page: next %q, %v; want none", next, err)
	}
	only, next, err := f.st.Orgs(t.Context(), domain.Page{Limit: 10}, want[3])
	if err != nil || next != "" || len(only) != 1 || only[0].ID != want[3] {
		t.Errorf("Orgs(only %s) = %+v, %q, %v", want[3], only, next, err)
	}
	_, _, err = f.st.Orgs(t.Context(), domain.Page{Limit: 2, Cursor: "forged"}, "")
	wantCode(t, err, domain.KindMalformed, domain.CodeInvalidCursor)
}

func TestStore_RenameOrg(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, b := f.org(t, domain.ModeProviderManaged), f.org(t, domain.ModeProviderManaged)
	if err := f.st.RenameOrg(t.Context(), a.ID, "Renamed"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.st.Org(t.Context(), a.ID); got.Name != "Renamed" {
		t.Errorf("name after rename %q", got.Name)
	}
	wantCode(t, f.st.RenameOrg(t.Context(), b.ID, "renamed"), domain.KindConflict, domain.CodeOrgNameTaken)
	if err := f.st.RenameOrg(t.Context(), "org_missing", "x"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("rename of an unknown org: %v, want ErrNotFound", err)
	}
}

func TestStore_DeleteOrg_RemovesWhatItOwnsKeepsEvents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o, other := f.org(t, domain.ModeCustomerManaged), f.org(t, domain.ModeCustomerManaged)
	for _, org := range []domain.Org{o, other} {
		col := f.collection(t, org.ID, region)
		f.documents(t, col, f.dataKey(t, org.ID, col.ID, org.KeyARN, 0), 2)
		if err := f.st.InsertToken(t.Context(), domain.Token{ID: domain.NewID("tok"), OrgID: org.ID, Name: "t",
			Role: domain.RoleOwner, CreatedAt: f.st.Now()}, hash(org.ID)); err != nil {
			t.Fatal(err)
		}
		if err := f.st.InsertEvent(t.Context(), domain.Event{OrgID: org.ID, Type: domain.EventOrgCreated}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.DeleteOrg(t.Context(), o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Org(t.Context(), o.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("deleted org reads: %v", err)
	}
	for _, table := range []string{"key_links", "key_health", "tokens", "collections", "data_keys", "documents"} {
		if n := f.count(t, `SELECT count(*) FROM `+table+` WHERE org_id = $1`, o.ID); n != 0 {
			t.Errorf("%d %s rows of the deleted org left", n, table)
		}
		if n := f.count(t, `SELECT count(*) FROM `+table+` WHERE org_id = $1`, other.ID); n == 0 {
			t.Errorf("the other org lost its %s", table)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM wrapped_keys`); n != 1 {
		t.Errorf("%d wrapped keys left, want the other org's 1", n)
	}
	if evs, _, err := f.st.Events(t.Context(), o.ID, "", domain.Page{Limit: 10}); err != nil || len(evs) != 1 {
		t.Errorf("events of the deleted org: %d, %v; want them kept", len(evs), err)
	}
	if err := f.st.DeleteOrg(t.Context(), o.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func TestStore_Collection_ReadsBackWithinItsOrg(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o, other := f.org(t, domain.ModeProviderManaged), f.org(t, domain.ModeProviderManaged)
	c := f.collection(t, o.ID, region)
	got, err := f.st.Collection(t.Context(), o.ID, c.ID)
	if err != nil || got != c {
		t.Errorf("Collection = %+v, %v; want %+v", got, err, c)
	}
	if _, err := f.st.Collection(t.Context(), other.ID, c.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("another org's collection: %v, want ErrNotFound", err)
	}
	dup := c
	dup.ID = domain.NewID("col")
	wantCode(t, f.st.InsertCollection(t.Context(), dup), domain.KindConflict, domain.CodeCollectionNameTaken)
	dup.OrgID = other.ID
	if err := f.st.InsertCollection(t.Context(), dup); err != nil {
		t.Errorf("the same name in another org: %v", err)
	}
	err = f.st.InTx(t.Context(), func(tx *store.Q) error {
		locked, err := tx.LockCollection(t.Context(), o.ID, c.ID)
		if err != nil || locked != c {
			return fmt.Errorf("LockCollection = %+v, %v", locked, err)
		}
		_, err = tx.LockCollection(t.Context(), o.ID, "col_missing")
		if !errors.Is(err, domain.ErrNotFound) {
			return fmt.Errorf("LockCollection of an unknown id: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

func TestStore_Collections_PagesOldestFirst(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o, other := f.org(t, domain.ModeProviderManaged), f.org(t, domain.ModeProviderManaged)
	f.collection(t, other.ID, region)
	var want []string
	for range 4 {
		want = append(want, f.collection(t, o.ID, region).ID)
		f.clock.Advance(time.Millisecond)
	}
	pages := allPages(t, 3, func(p domain.Page) ([]domain.Collection, string, error) {
		return f.st.Collections(t.Context(), o.ID, p)
	})
	if got := flat(pages, func(c domain.Collection) string { return c.ID }); !reflect.DeepEqual(got, want) ||
		!reflect.DeepEqual(sizes(pages), []int{3, 1}) {
		t.Errorf("pages %v of %v, want [3 1] of %v", sizes(pages), got, want)
	}
}

func TestStore_LockCollectionsIn_OneRegion(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeProviderManaged)
	a, b := f.collection(t, o.ID, region), f.collection(t, o.ID, region)
	f.collection(t, o.ID, "us-west-2")
	err := f.st.InTx(t.Context(), func(tx *store.Q) error {
		cols, err := tx.LockCollectionsIn(t.Context(), o.ID, region)
		if err != nil {
			return err
		}
		got := map[string]bool{}
		for _, c := range cols {
			got[c.ID] = true
		}
		if len(cols) != 2 || !got[a.ID] || !got[b.ID] {
			return fmt.Errorf("LockCollectionsIn = %+v, want %s and %s", cols, a.ID, b.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStore_SetCollectionState(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeProviderManaged)
	c := f.collection(t, o.ID, region)
	at := t0.Add(time.Hour)
	if err := f.st.SetCollectionState(t.Context(), c.ID, domain.StatePaused, "key_disabled", at); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.Collection(t.Context(), o.ID, c.ID)
	if err != nil || got.State != domain.StatePaused || got.StateReason != "key_disabled" || !got.StateChangedAt.Equal(at) {
		t.Fatalf("after SetCollectionState: %+v, %v", got, err)
	}
}

func TestStore_DeleteCollection_RemovesItsDocuments(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	c, kept := f.collection(t, o.ID, region), f.collection(t, o.ID, region)
	f.documents(t, c, f.dataKey(t, o.ID, c.ID, o.KeyARN, 0), 3)
	f.documents(t, kept, f.dataKey(t, o.ID, kept.ID, o.KeyARN, 0), 1)
	if err := f.st.DeleteCollection(t.Context(), o.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Collection(t.Context(), o.ID, c.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("deleted collection reads: %v", err)
	}
	if n := f.count(t, `SELECT count(*) FROM documents WHERE collection_id = $1`, c.ID); n != 0 {
		t.Errorf("%d documents of the deleted collection left", n)
	}
	if n := f.count(t, `SELECT count(*) FROM documents WHERE collection_id = $1`, kept.ID); n != 1 {
		t.Errorf("the other collection has %d documents, want 1", n)
	}
	if err := f.st.DeleteCollection(t.Context(), o.ID, c.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func TestStore_WrappedDataKey_ReadsOnlyTheCopyOfThatKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	want := f.dataKey(t, o.ID, "col_1", o.KeyARN, 3)
	if got, err := f.st.WrappedDataKey(t.Context(), want.ID, o.KeyARN); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("WrappedDataKey by its key = %+v, %v; want %+v", got, err, want)
	}
	if _, err := f.st.WrappedDataKey(t.Context(), "dek_missing", o.KeyARN); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown data key: %v, want ErrNotFound", err)
	}
	// Another key wraps no copy of it: not found, whatever else wraps it.
	if _, err := f.st.WrappedDataKey(t.Context(), want.ID, arnOf(999)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("WrappedDataKey by another key: %v, want ErrNotFound", err)
	}
}

func TestStore_UnavailableKeysSince_ListsKeysFoundUnusableLately(t *testing.T) {
	t.Parallel()
	f := setup(t)
	early, late, healthy := f.org(t, domain.ModeCustomerManaged), f.org(t, domain.ModeCustomerManaged), f.org(t, domain.ModeCustomerManaged)
	mark := func(o domain.Org, status string, probe time.Time) {
		t.Helper()
		h := f.health(t, o.ID)
		h.Status, h.LastProbeAt = status, &probe
		if err := f.st.SaveKeyHealth(t.Context(), h); err != nil {
			t.Fatal(err)
		}
	}
	mark(early, domain.KeyUnavailable, t0.Add(time.Second))
	mark(late, domain.KeyUnavailable, t0.Add(time.Minute))
	mark(healthy, domain.KeyHealthy, t0.Add(time.Minute))
	got, err := f.st.UnavailableKeysSince(t.Context(), t0.Add(30*time.Second))
	if err != nil || !reflect.DeepEqual(got, []string{late.KeyARN}) {
		t.Fatalf("UnavailableKeysSince = %v, %v; want [%s]", got, err, late.KeyARN)
	}
}

func TestStore_CurrentDataKey_Bounds(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	old := f.dataKey(t, o.ID, "col_1", o.KeyARN, 0)
	f.clock.Advance(time.Hour)
	cur := f.dataKey(t, o.ID, "col_1", o.KeyARN, 5)
	now := f.st.Now()
	for _, tc := range []struct {
		name                   string
		purpose, owner, keyARN string
		notBefore              time.Time
		n, maxUses             int
		want                   string // "" means ErrNotFound
	}{
		{"newest young key with room", "documents", "col_1", o.KeyARN, now.Add(-2 * time.Hour), 1, 10, cur.ID},
		{"room to the last use", "documents", "col_1", o.KeyARN, now.Add(-2 * time.Hour), 5, 10, cur.ID},
		{"no room for the batch", "documents", "col_1", o.KeyARN, now.Add(-2 * time.Hour), 6, 10, old.ID},
		{"no room in either", "documents", "col_1", o.KeyARN, now.Add(-2 * time.Hour), 11, 10, ""},
		{"older keys past the age bound", "documents", "col_1", o.KeyARN, now.Add(-30 * time.Minute), 6, 10, ""},
		{"created exactly at the bound is too old", "documents", "col_1", o.KeyARN, now, 1, 10, ""},
		{"another key ARN", "documents", "col_1", arnOf(99), now.Add(-2 * time.Hour), 1, 10, ""},
		{"another owner", "documents", "col_2", o.KeyARN, now.Add(-2 * time.Hour), 1, 10, ""},
		{"another purpose", "secrets", "col_1", o.KeyARN, now.Add(-2 * time.Hour), 1, 10, ""},
	} {
		got, err := f.st.CurrentDataKey(t.Context(), tc.purpose, tc.owner, tc.keyARN, tc.notBefore, tc.n, tc.maxUses)
		switch {
		case tc.want == "" && !errors.Is(err, domain.ErrNotFound):
			t.Errorf("%s: CurrentDataKey = %s, %v; want ErrNotFound", tc.name, got.ID, err)
		case tc.want != "" && (err != nil || got.ID != tc.want):
			t.Errorf("%s: CurrentDataKey = %s, %v; want %s", tc.name, got.ID, err, tc.want)
		}
	}
}

func TestStore_DeleteDataKeys_OneOwner(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	f.dataKey(t, o.ID, "col_1", o.KeyARN, 0)
	f.dataKey(t, o.ID, "col_1", o.KeyARN, 0)
	kept := f.dataKey(t, o.ID, "col_2", o.KeyARN, 0)
	n, err := f.st.DeleteDataKeys(t.Context(), "documents", "col_1")
	if err != nil || n != 2 {
		t.Fatalf("DeleteDataKeys = %d, %v; want 2", n, err)
	}
	if n, err := f.st.DeleteDataKeys(t.Context(), "secrets", "col_2"); err != nil || n != 0 {
		t.Fatalf("DeleteDataKeys of another purpose = %d, %v; want 0", n, err)
	}
	if _, err := f.st.WrappedDataKey(t.Context(), kept.ID, o.KeyARN); err != nil {
		t.Fatalf("another owner's key: %v", err)
	}
	if n := f.count(t, `SELECT count(*) FROM wrapped_keys`); n != 1 {
		t.Fatalf("%d wrapped copies left, want 1", n)
	}
}

func TestStore_InsertDocuments_CountsUses(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	c := f.collection(t, o.ID, region)
	a, b := f.dataKey(t, o.ID, c.ID, o.KeyARN, 1), f.dataKey(t, o.ID, c.ID, o.KeyARN, 0)
	f.documents(t, c, a, 3)
	f.documents(t, c, b, 2)
	if err := f.st.InsertDocuments(t.Context(), nil); err != nil {
		t.Fatalf("no documents: %v", err)
	}
	for id, want := range map[string]int{a.ID: 4, b.ID: 2} {
		if k, err := f.st.WrappedDataKey(t.Context(), id, o.KeyARN); err != nil || k.Uses != want {
			t.Errorf("data key %s has %d uses (%v), want %d", id, k.Uses, err, want)
		}
	}
}

// TestStore_WriteIngest_StoresEachDocumentAsSent: documents of different sizes, sent as one buffer
// with their ends, read back each with its own nonce and ciphertext, counted against the data key;
// a refused state stores nothing.
func TestStore_WriteIngest_StoresEachDocumentAsSent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	c := f.collection(t, o.ID, region)
	k := f.dataKey(t, o.ID, c.ID, o.KeyARN, 0)
	w := store.IngestWrite{OrgID: o.ID, CollectionID: c.ID, DataKeyID: k.ID, AADVersion: 2, CreatedAt: f.st.Now()}
	var want [][]byte
	for i, n := range []int{16, 1, 300} {
		sealed := append(bytes.Repeat([]byte{byte('a' + i)}, 12), bytes.Repeat([]byte{byte('A' + i)}, n)...)
		want = append(want, sealed)
		w.Add(domain.NewID("doc"), sealed)
	}
	state, stored, err := f.st.WriteIngest(t.Context(), w, []string{domain.StatePaused})
	if err != nil || !stored || state != domain.StateActive {
		t.Fatalf("WriteIngest = %q, %v, %v", state, stored, err)
	}
	docs, _, err := f.st.Documents(t.Context(), o.ID, c.ID, domain.Page{Limit: 10})
	if err != nil || len(docs) != 3 {
		t.Fatalf("Documents = %d, %v; want 3", len(docs), err)
	}
	for i, d := range docs {
		if d.ID != w.IDs[i] || !bytes.Equal(append(bytes.Clone(d.Nonce), d.Ciphertext...), want[i]) || len(d.Nonce) != 12 {
			t.Errorf("document %d: %s %x|%x, want %s %x", i, d.ID, d.Nonce, d.Ciphertext, w.IDs[i], want[i])
		}
	}
	if k, err := f.st.WrappedDataKey(t.Context(), k.ID, o.KeyARN); err != nil || k.Uses != 3 {
		t.Errorf("data key has %d uses (%v), want 3", k.Uses, err)
	}
	w.IDs, w.Sealed, w.Ends = nil, nil, nil
	w.Add(domain.NewID("doc"), want[0])
	if state, stored, err := f.st.WriteIngest(t.Context(), w, []string{domain.StateActive}); err != nil || stored || state != domain.StateActive {
		t.Fatalf("WriteIngest into a refused state = %q, %v, %v; want nothing stored", state, stored, err)
	}
	if n := f.count(t, `SELECT count(*) FROM documents WHERE collection_id = $1`, c.ID); n != 3 {
		t.Errorf("%d documents after a refused write, want 3", n)
	}
}

func TestStore_Document_ReadsBackWithinItsCollection(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	c, other := f.collection(t, o.ID, region), f.collection(t, o.ID, region)
	want := f.documents(t, c, f.dataKey(t, o.ID, c.ID, o.KeyARN, 0), 1)[0]
	got, err := f.st.Document(t.Context(), o.ID, c.ID, want.ID)
	want.Seq = got.Seq
	if err != nil || !reflect.DeepEqual(got, want) || got.Seq == 0 {
		t.Fatalf("Document = %+v, %v; want %+v", got, err, want)
	}
	if _, err := f.st.Document(t.Context(), o.ID, other.ID, want.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a document through another collection: %v, want ErrNotFound", err)
	}
}

func TestStore_Documents_PagesInIngestionOrder(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	c, other := f.collection(t, o.ID, region), f.collection(t, o.ID, region)
	dk := f.dataKey(t, o.ID, c.ID, o.KeyARN, 0)
	var want []string
	for range 3 {
		for _, d := range f.documents(t, c, dk, 2) {
			want = append(want, d.ID)
		}
		f.documents(t, other, f.dataKey(t, o.ID, other.ID, o.KeyARN, 0), 1)
	}
	pages := allPages(t, 4, func(p domain.Page) ([]store.SealedDocument, string, error) {
		return f.st.Documents(t.Context(), o.ID, c.ID, p)
	})
	if pages[0][0].AADVersion != 2 {
		t.Errorf("AADVersion read back as %d, want 2", pages[0][0].AADVersion)
	}
	if got := flat(pages, func(d store.SealedDocument) string { return d.ID }); !reflect.DeepEqual(got, want) ||
		!reflect.DeepEqual(sizes(pages), []int{4, 2}) {
		t.Errorf("pages %v of %v, want [4 2] of %v", sizes(pages), got, want)
	}
}

// TestStore_ReadDocuments_PagesWithTheTarget: a read pages through a collection in ingestion order,
// each document as stored, its sealed bytes (nonce || ciphertext) slices of one buffer, with what the
// read needs of the organisation and the collection; a missing organisation or collection is 404.
func TestStore_ReadDocuments_PagesWithTheTarget(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	c, other := f.collection(t, o.ID, region), f.collection(t, o.ID, region)
	dk := f.dataKey(t, o.ID, c.ID, o.KeyARN, 0)
	want := f.documents(t, c, dk, 5)
	f.documents(t, other, f.dataKey(t, o.ID, other.ID, o.KeyARN, 0), 2)
	var got []store.SealedDocument
	var buf []byte
	page := domain.Page{Limit: 2}
	for {
		target, docs, next, b, err := f.st.ReadDocuments(t.Context(), o.ID, c.ID, page, buf[:0])
		if err != nil {
			t.Fatal(err)
		}
		wantTarget := store.CollectionRead{State: domain.StateActive, Region: region,
			Org: domain.Org{ID: o.ID, Region: region, Mode: o.Mode, Links: []domain.KeyLink{{OrgID: o.ID, Region: region, Purpose: domain.PurposeData, KeyARN: o.KeyARN}}}}
		if !reflect.DeepEqual(target, wantTarget) {
			t.Fatalf("target %+v, want %+v", target, wantTarget)
		}
		for _, d := range docs {
			if indexIn(b, d.Sealed) < 0 {
				t.Fatalf("document %s's sealed bytes are not in the read's buffer", d.ID)
			}
			// The next page reuses the buffer: what this one read is copied out first.
			d.Seq, d.Sealed, d.Nonce, d.Ciphertext = 0, nil, bytes.Clone(d.Nonce), bytes.Clone(d.Ciphertext)
			got = append(got, d)
		}
		buf = b
		if next == "" {
			break
		}
		page.Cursor = next
	}
	for i := range want {
		want[i].Seq = 0
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read %+v,\nwant %+v", got, want)
	}
	if _, _, _, _, err := f.st.ReadDocuments(t.Context(), o.ID, "col_0000000000000000", domain.Page{Limit: 2}, nil); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a missing collection: %v", err)
	}
	if _, _, _, _, err := f.st.ReadDocuments(t.Context(), "org_0000000000000000", c.ID, domain.Page{Limit: 2}, nil); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a missing organisation: %v", err)
	}
}

// indexIn is where sub starts within b (sub a slice of b), for checking that it is one.
func indexIn(b, sub []byte) int {
	for i := range b {
		if &b[i] == &sub[0] {
			return i
		}
	}
	return -1
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
	if len(evs) != 5 || !reflect.DeepEqual(sizes(pages), []int{2, 2, 1}) {
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
	if !reflect.DeepEqual(sizes(tokens), []int{2, 1}) {
		t.Errorf("token.created pages %v, want [2 1]", sizes(tokens))
	}
}

// health reads the one key health row of an org.
func (f *fixture) health(t *testing.T, orgID string) domain.KeyHealth {
	t.Helper()
	hs, err := f.st.KeyHealth(t.Context(), orgID)
	if err != nil || len(hs) != 1 {
		t.Fatalf("KeyHealth = %+v, %v", hs, err)
	}
	return hs[0]
}

func TestStore_KeyHealth_NewLinkIsHealthyAndDue(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	h := f.health(t, o.ID)
	if h.Status != domain.KeyHealthy || h.KeyARN != o.KeyARN || !h.NextProbeAt.Equal(t0) || h.LastOKAt == nil ||
		!h.LastOKAt.Equal(t0) || h.UnavailableSince != nil || h.LastError != nil {
		t.Fatalf("new key health %+v", h)
	}
	p := f.org(t, domain.ModeProviderManaged)
	if hs, err := f.st.KeyHealth(t.Context(), p.ID); err != nil || len(hs) != 0 {
		t.Fatalf("provider-managed key health %+v, %v; want none", hs, err)
	}
	err := f.st.InTx(t.Context(), func(tx *store.Q) error {
		if _, linked, err := tx.ShareKeyHealth(t.Context(), p.ID, region, domain.PurposeData); err != nil || linked {
			return fmt.Errorf("ShareKeyHealth of a provider-managed org: linked %t, %v", linked, err)
		}
		if got, linked, err := tx.ShareKeyHealth(t.Context(), o.ID, region, domain.PurposeData); err != nil || !linked || got.KeyARN != o.KeyARN {
			return fmt.Errorf("ShareKeyHealth = %+v, %t, %v", got, linked, err)
		}
		if _, err := tx.LockKeyHealth(t.Context(), p.ID, region, domain.PurposeData); !errors.Is(err, domain.ErrNotFound) {
			return fmt.Errorf("LockKeyHealth of a provider-managed org: %v, want ErrNotFound", err)
		}
		got, err := tx.LockKeyHealth(t.Context(), o.ID, region, domain.PurposeData)
		if err != nil || got.KeyARN != o.KeyARN {
			return fmt.Errorf("LockKeyHealth = %+v, %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStore_SaveKeyHealth_WritesEveryField(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	probe, since := t0.Add(time.Minute), t0.Add(30*time.Second)
	want := domain.KeyHealth{OrgID: o.ID, Region: region, Purpose: domain.PurposeData, KeyARN: o.KeyARN, Status: domain.KeyUnavailable,
		LastProbeAt: &probe, LastOKAt: &since, UnavailableSince: &since,
		LastError:   &domain.ProbeError{Code: domain.CodeAccessDenied, Action: "kms:Decrypt", Message: "denied"},
		NextProbeAt: t0.Add(2 * time.Minute)}
	if err := f.st.SaveKeyHealth(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if got := f.health(t, o.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("KeyHealth = %+v, want %+v", got, want)
	}
	want.Status, want.LastError, want.UnavailableSince = domain.KeyHealthy, nil, nil
	if err := f.st.SaveKeyHealth(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if got := f.health(t, o.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("after recovery KeyHealth = %+v, want %+v", got, want)
	}
}

// TestStore_ClaimDueFrom_StartsWhereTheLastBatchWasDue: keys due before from are left for another
// sweep; those due at from or later (and by now) are claimed, earliest first, each with when it was
// due.
func TestStore_ClaimDueFrom_StartsWhereTheLastBatchWasDue(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var orgs []domain.Org
	for i := range 4 {
		o := f.org(t, domain.ModeCustomerManaged)
		h := f.health(t, o.ID)
		h.NextProbeAt = t0.Add(time.Duration(i-3) * time.Minute) // due 3, 2, 1 and 0 minutes before t0
		if err := f.st.SaveKeyHealth(t.Context(), h); err != nil {
			t.Fatal(err)
		}
		orgs = append(orgs, o)
	}
	due, err := f.st.ClaimDueFrom(t.Context(), "r1", t0, t0.Add(-2*time.Minute), time.Minute, 2)
	if err != nil || len(due) != 2 || due[0].OrgID != orgs[1].ID || due[1].OrgID != orgs[2].ID ||
		!due[0].Due.Equal(t0.Add(-2*time.Minute)) || !due[1].Due.Equal(t0.Add(-time.Minute)) {
		t.Fatalf("ClaimDueFrom = %+v, %v; want the keys due 2 and 1 minutes before", due, err)
	}
	due, err = f.st.ClaimDueFrom(t.Context(), "r1", t0, due[1].Due, time.Minute, 2)
	if err != nil || len(due) != 1 || due[0].OrgID != orgs[3].ID {
		t.Fatalf("the next claim = %+v, %v; want the key due at t0 only", due, err)
	}
	if due, err := f.st.ClaimDue(t.Context(), "r2", t0, time.Minute, 10); err != nil || len(due) != 1 || due[0].OrgID != orgs[0].ID {
		t.Fatalf("ClaimDue = %+v, %v; want the key left before from", due, err)
	}
}

func TestStore_ClaimDue_LeasesKeys(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, b := f.org(t, domain.ModeCustomerManaged), f.org(t, domain.ModeCustomerManaged)
	later := f.health(t, b.ID)
	later.NextProbeAt = t0.Add(time.Hour)
	if err := f.st.SaveKeyHealth(t.Context(), later); err != nil {
		t.Fatal(err)
	}
	claim := func(owner string, now time.Time, limit int) []store.Due {
		t.Helper()
		due, err := f.st.ClaimDue(t.Context(), owner, now, time.Minute, limit)
		if err != nil {
			t.Fatal(err)
		}
		for i := range due {
			if due[i].Row == (store.RowVersion{}) {
				t.Errorf("the claim of %s names no row version", due[i].OrgID)
			}
			due[i].Row, due[i].Due = store.RowVersion{}, time.Time{} // where the row is, is the database's business
		}
		return due
	}
	holds := func(owner string, now time.Time) bool {
		t.Helper()
		var ok bool
		err := f.st.InTx(t.Context(), func(tx *store.Q) (err error) {
			ok, err = tx.HoldsLease(t.Context(), a.ID, region, domain.PurposeData, owner, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	want := []store.Due{{OrgID: a.ID, Region: region, Purpose: domain.PurposeData, KeyARN: a.KeyARN}}
	if got := claim("r1", t0, 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("r1 claims %+v, want %+v (b is not due)", got, want)
	}
	if got := claim("r2", t0.Add(59*time.Second), 10); len(got) != 0 {
		t.Fatalf("r2 claims %+v under r1's live lease", got)
	}
	if !holds("r1", t0.Add(59*time.Second)) || holds("r2", t0) || holds("r1", t0.Add(time.Minute)) {
		t.Fatal("HoldsLease: want r1 only, until its lease ends")
	}
	if got := claim("r2", t0.Add(time.Minute), 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("r2 claims %+v after r1's lease ended, want %+v", got, want)
	}
	// A saved result releases the lease: a due key is claimable at once.
	h := f.health(t, a.ID)
	h.NextProbeAt = t0.Add(time.Minute)
	if err := f.st.SaveKeyHealth(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	if holds("r2", t0.Add(time.Minute)) {
		t.Fatal("r2 still holds the lease after SaveKeyHealth")
	}
	if got := claim("r3", t0.Add(time.Minute), 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("r3 claims %+v after the save, want %+v", got, want)
	}
	// The limit caps a claim, earliest due first.
	if got := claim("r4", t0.Add(3*time.Hour), 1); len(got) != 1 || got[0].OrgID != a.ID {
		t.Fatalf("r4 claims %+v with limit 1, want a (due first)", got)
	}
	var unknown bool
	err := f.st.InTx(t.Context(), func(tx *store.Q) (err error) {
		unknown, err = tx.HoldsLease(t.Context(), "org_missing", region, domain.PurposeData, "r1", t0)
		return err
	})
	if err != nil || unknown {
		t.Fatalf("HoldsLease of an unknown key = %t, %v", unknown, err)
	}
}

func TestStore_ProbeSoon(t *testing.T) {
	t.Parallel()
	f := setup(t)
	later := t0.Add(time.Hour)
	cases := []struct {
		name   string
		status string
		arn    func(domain.Org) string
		want   time.Time
	}{
		{"healthy key is pulled forward", domain.KeyHealthy, func(o domain.Org) string { return o.KeyARN }, t0},
		{"unavailable key stays", domain.KeyUnavailable, func(o domain.Org) string { return o.KeyARN }, later},
		{"another key ARN changes nothing", domain.KeyHealthy, func(domain.Org) string { return arnOf(99) }, later},
	}
	for _, tc := range cases {
		o := f.org(t, domain.ModeCustomerManaged)
		h := f.health(t, o.ID)
		h.Status, h.NextProbeAt = tc.status, later
		if err := f.st.SaveKeyHealth(t.Context(), h); err != nil {
			t.Fatal(err)
		}
		if err := f.st.ProbeSoon(t.Context(), o.ID, tc.arn(o)); err != nil {
			t.Fatal(err)
		}
		if got := f.health(t, o.ID).NextProbeAt; !got.Equal(tc.want) {
			t.Errorf("%s: next probe at %v, want %v", tc.name, got, tc.want)
		}
	}
	p := f.org(t, domain.ModeProviderManaged)
	if err := f.st.ProbeSoon(t.Context(), p.ID, "arn:aws:kms:us-east-1:999988887777:key/provider"); err != nil {
		t.Errorf("ProbeSoon of a provider-managed org: %v", err)
	}
}

func TestStore_Replay(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h1, h2 := hash("body 1"), hash("body 2")
	replayed := func(key string, h []byte) (*store.Replay, error) {
		return f.st.Replayed(t.Context(), "POST /v1/orgs|admin", key, h)
	}
	save := func(key string, h []byte, body string) bool {
		t.Helper()
		var ok bool
		err := f.st.InTx(t.Context(), func(tx *store.Q) (err error) {
			ok, err = tx.SaveReplay(t.Context(), "POST /v1/orgs|admin", key, h, store.Replay{Body: []byte(body)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if r, err := replayed("k", h1); r != nil || err != nil {
		t.Fatalf("nothing stored yet: %+v, %v", r, err)
	}
	if !save("k", h1, "first") {
		t.Fatal("first SaveReplay lost")
	}
	if save("k", h1, "second") {
		t.Fatal("a second SaveReplay under a live key won")
	}
	if r, err := replayed("k", h1); err != nil || r == nil || string(r.Body) != "first" {
		t.Fatalf("Replayed = %+v, %v; want the first answer", r, err)
	}
	if r, err := f.st.Replayed(t.Context(), "POST /v1/orgs|token:tok_x", "k", h1); r != nil || err != nil {
		t.Fatalf("another scope sees %+v, %v", r, err)
	}
	_, err := replayed("k", h2)
	wantCode(t, err, domain.KindInvalid, domain.CodeIdempotencyKeyReused)

	f.clock.Advance(store.IdempotencyTTL)
	if r, err := replayed("k", h2); r != nil || err != nil {
		t.Fatalf("an expired answer: %+v, %v; want none", r, err)
	}
	if !save("k", h2, "anew") {
		t.Fatal("SaveReplay did not replace the expired answer")
	}
	if r, err := replayed("k", h2); err != nil || r == nil || string(r.Body) != "anew" {
		t.Fatalf("Replayed after the replacement = %+v, %v", r, err)
	}
}

func TestStore_PurgeReplays_OnlyExpired(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, key := range []string{"old", "young"} {
		if _, err := f.st.SaveReplay(t.Context(), "s", key, hash(key), store.Replay{Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Hour)
	}
	f.clock.Set(t0.Add(store.IdempotencyTTL))
	if err := f.st.PurgeReplays(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t, `SELECT count(*) FROM idempotency_keys WHERE key = 'old'`); n != 0 {
		t.Error("the expired answer was kept")
	}
	if n := f.count(t, `SELECT count(*) FROM idempotency_keys WHERE key = 'young'`); n != 1 {
		t.Error("the live answer was purged")
	}
}

func TestStore_Heartbeat_CountsLiveReplicas(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const window = time.Minute
	for _, tc := range []struct {
		owner string
		at    time.Duration
		want  int
	}{
		{"a", 0, 1},
		{"b", 10 * time.Second, 2},
		{"a", 20 * time.Second, 2},  // a beat again: still two
		{"c", 70 * time.Second, 2},  // b, last seen 60s ago, is gone; a is alive
		{"c", 200 * time.Second, 1}, // everyone else went quiet
		{"a", 201 * time.Second, 2}, // a was forgotten and comes back beside c
	} {
		got, err := f.st.Heartbeat(t.Context(), tc.owner, t0.Add(tc.at), window)
		if err != nil || got != tc.want {
			t.Errorf("%s at +%v: %d replicas, %v; want %d", tc.owner, tc.at, got, err, tc.want)
		}
	}
	if err := f.st.Leave(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.st.Heartbeat(t.Context(), "c", t0.Add(202*time.Second), window); err != nil || got != 1 {
		t.Errorf("after a left: %d replicas, %v; want 1", got, err)
	}
	if err := f.st.Leave(t.Context(), "never-seen"); err != nil {
		t.Errorf("Leave of an unknown replica: %v", err)
	}
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func TestStore_Tokens(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeProviderManaged)
	var toks []domain.Token
	for i := range 3 {
		tok := domain.Token{ID: domain.NewID("tok"), OrgID: o.ID, Name: fmt.Sprint("t", i), Role: domain.RoleMember, CreatedAt: f.st.Now()}
		if err := f.st.InsertToken(t.Context(), tok, hash(tok.ID)); err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
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
	if ids := flat(pages, func(tk domain.Token) string { return tk.ID }); !reflect.DeepEqual(ids, []string{toks[0].ID, toks[2].ID}) {
		t.Fatalf("live tokens %v, want %s and %s", ids, toks[0].ID, toks[2].ID)
	}
	if err := f.st.InsertToken(t.Context(), domain.Token{ID: domain.NewID("tok"), OrgID: o.ID, Name: "dup", Role: domain.RoleMember,
		CreatedAt: f.st.Now()}, hash(toks[0].ID)); err == nil {
		t.Fatal("a second token with the same secret hash was stored")
	}
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
