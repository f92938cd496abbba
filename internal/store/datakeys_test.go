package store_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
)

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
