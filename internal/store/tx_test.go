package store_test

import (
	"errors"
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

// TestStore_InTx_BeginsWithItsFirstStatement: a transaction whose BEGIN goes out with its first
// statement is still one transaction, whatever that statement is (a batch, a row, rows, a plain
// statement): what fn wrote is there after a nil return and none of it after an error, and a
// statement that fails aborts the whole.
func TestStore_InTx_BeginsWithItsFirstStatement(t *testing.T) {
	t.Parallel()
	f := setup(t)
	orgs := func() int { return f.count(t, `SELECT count(*) FROM orgs`) }
	newOrg := func(name string) domain.Org {
		return domain.Org{ID: domain.NewID("org"), Name: name, Region: region, Mode: domain.ModeProviderManaged, CreatedAt: f.st.Now()}
	}
	errUndo := errors.New("undo")

	// A batch first (InsertOrg), then a plain statement: both committed, or neither.
	a := newOrg("batch first")
	if err := f.st.InTx(t.Context(), func(q *store.Q) error {
		if err := q.InsertOrg(t.Context(), a); err != nil {
			return err
		}
		return q.RenameOrg(t.Context(), a.ID, "renamed in the same transaction")
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := f.st.Org(t.Context(), a.ID); err != nil || got.Name != "renamed in the same transaction" {
		t.Fatalf("after commit: %+v, %v", got, err)
	}
	b := newOrg("rolled back")
	if err := f.st.InTx(t.Context(), func(q *store.Q) error {
		if err := q.InsertOrg(t.Context(), b); err != nil {
			return err
		}
		return errUndo
	}); !errors.Is(err, errUndo) {
		t.Fatalf("InTx = %v, want fn's error", err)
	}
	if _, err := f.st.Org(t.Context(), b.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a rolled-back organisation reads back: %v", err)
	}

	// A row first (Org), a plain statement first (RenameOrg), rows first (Orgs).
	for name, first := range map[string]func(q *store.Q) error{
		"row":       func(q *store.Q) error { _, err := q.Org(t.Context(), a.ID); return err },
		"statement": func(q *store.Q) error { return q.RenameOrg(t.Context(), a.ID, "renamed then undone") },
		"rows":      func(q *store.Q) error { _, _, err := q.Orgs(t.Context(), domain.Page{Limit: 10}, ""); return err },
	} {
		c := newOrg("after a " + name)
		before := orgs()
		if err := f.st.InTx(t.Context(), func(q *store.Q) error {
			if err := first(q); err != nil {
				return err
			}
			return q.InsertOrg(t.Context(), c)
		}); err != nil {
			t.Fatalf("%s first: %v", name, err)
		}
		if orgs() != before+1 {
			t.Errorf("%s first: the insert after it was not committed", name)
		}
		d := newOrg("undone after a " + name)
		err := f.st.InTx(t.Context(), func(q *store.Q) error {
			if err := first(q); err != nil {
				return err
			}
			if err := q.InsertOrg(t.Context(), d); err != nil {
				return err
			}
			return errUndo
		})
		if !errors.Is(err, errUndo) || orgs() != before+1 {
			t.Errorf("%s first, then an error: %v, %d organisations, want %d", name, err, orgs(), before+1)
		}
	}

	// A first statement that fails (a name taken) aborts the transaction: nothing of it is stored.
	taken := newOrg("after a row") // the name of an organisation stored above
	if err := f.st.InTx(t.Context(), func(q *store.Q) error { return q.InsertOrg(t.Context(), taken) }); err == nil {
		t.Fatal("a taken name was stored")
	}
	// A statement that fails later (fn ignores its error) makes the commit fail, not half a commit.
	e := newOrg("half")
	err := f.st.InTx(t.Context(), func(q *store.Q) error {
		if err := q.InsertOrg(t.Context(), e); err != nil {
			return err
		}
		_ = q.InsertOrg(t.Context(), newOrg("after a row")) // taken: aborts the transaction
		return nil
	})
	if err == nil {
		t.Error("a commit after a failed statement reported success")
	}
	if _, err := f.st.Org(t.Context(), e.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("an aborted transaction's first insert reads back: %v", err)
	}
	// Nothing sent, nothing to commit.
	if err := f.st.InTx(t.Context(), func(*store.Q) error { return nil }); err != nil {
		t.Errorf("an empty transaction: %v", err)
	}
}

// TestStore_InTx_HeldWritesFailAsOne: the writes held back for the COMMIT (an organisation's insert,
// an idempotent answer) go out in one pipeline with it; one that fails, in the middle or last, fails
// the transaction with its own translated error, and nothing before or after it is stored.
func TestStore_InTx_HeldWritesFailAsOne(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const scope = "POST /v1/orgs|admin"
	newOrg := func(name string) domain.Org {
		return domain.Org{ID: domain.NewID("org"), Name: name, Region: region, Mode: domain.ModeCustomerManaged,
			KeyARN: arnOf(1), CreatedAt: f.st.Now()}
	}
	create := func(key string, orgs ...domain.Org) error {
		return f.st.InTx(t.Context(), func(q *store.Q) error {
			for _, o := range orgs {
				if err := q.InsertOrg(t.Context(), o, domain.Event{OrgID: o.ID, Type: domain.EventOrgCreated, Actor: "admin"}); err != nil {
					return err
				}
			}
			return q.SaveReplay(t.Context(), scope, key, hash(key), store.Replay{Body: []byte(`{}`)})
		})
	}
	if err := create("taken", newOrg("first")); err != nil {
		t.Fatal(err)
	}
	stored := func(o domain.Org) int {
		return f.count(t, `SELECT count(*) FROM orgs WHERE id = $1`, o.ID) + f.count(t, `SELECT count(*) FROM key_links WHERE org_id = $1`, o.ID) +
			f.count(t, `SELECT count(*) FROM events WHERE org_id = $1`, o.ID)
	}

	// In the middle: the second organisation's name is taken.
	a, b := newOrg("a"), newOrg("first")
	wantCode(t, create("fresh", a, b), domain.KindConflict, domain.CodeOrgNameTaken)
	if n := stored(a) + stored(b) + f.count(t, `SELECT count(*) FROM idempotency_keys WHERE key = 'fresh'`); n != 0 {
		t.Errorf("a pipeline failing in the middle stored %d rows", n)
	}
	// Last: the answer's key is held by a live answer, which stays as it was.
	c := newOrg("c")
	if err := create("taken", c); !errors.Is(err, store.ErrReplayLost) {
		t.Fatalf("an answer under a live key: %v, want ErrReplayLost", err)
	}
	if n := stored(c); n != 0 {
		t.Errorf("a pipeline failing last stored %d rows of its organisation", n)
	}
	// The connection is usable again, its failed transaction rolled back.
	if err := create("fresh", a); err != nil {
		t.Fatal(err)
	}
	if n := stored(a); n != 3 {
		t.Errorf("after the failures an organisation stored %d rows, want 3 (org, key link, event)", n)
	}
}
