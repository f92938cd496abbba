package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

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
	wantPaged(t, pages, func(c domain.Collection) string { return c.ID }, want, 3, 1)
}

func TestStore_LockCollectionsIn_OneRegion(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeProviderManaged)
	a, b := f.collection(t, o.ID, region), f.collection(t, o.ID, region)
	f.collection(t, o.ID, "us-west-2")
	f.inTx(t, func(tx *store.Q) error {
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
