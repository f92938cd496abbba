package store_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

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

// A backup key is monitored like the data key: its link has its own health row, listed
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
