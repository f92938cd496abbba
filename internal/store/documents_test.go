package store_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

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
	o, c, k, w := f.ingestInto(t)
	var want [][]byte
	for i, n := range []int{16, 1, 300} {
		sealed := append(bytes.Repeat([]byte{byte('a' + i)}, 12), bytes.Repeat([]byte{byte('A' + i)}, n)...)
		want = append(want, sealed)
		w.Add(domain.NewID("doc"), sealed)
	}
	state, stored, err := f.st.WriteIngest(t.Context(), w, []string{domain.StatePaused})
	if err != nil || !stored || state != "" {
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

// twoCollections stores a customer-managed organisation with two collections in region.
func (f *fixture) twoCollections(t *testing.T) (o domain.Org, c, other domain.Collection) {
	t.Helper()
	o = f.org(t, domain.ModeCustomerManaged)
	return o, f.collection(t, o.ID, region), f.collection(t, o.ID, region)
}

func TestStore_Document_ReadsBackWithinItsCollection(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o, c, other := f.twoCollections(t)
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
	o, c, other := f.twoCollections(t)
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
	wantPaged(t, pages, func(d store.SealedDocument) string { return d.ID }, want, 4, 2)
}

// TestStore_ReadDocuments_PagesWithTheTarget: a read pages through a collection in ingestion order,
// each document as stored, its sealed bytes (nonce || ciphertext) slices of one buffer, with what the
// read needs of the organisation and the collection; a missing organisation or collection is 404.
func TestStore_ReadDocuments_PagesWithTheTarget(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o, c, other := f.twoCollections(t)
	dk := f.dataKey(t, o.ID, c.ID, o.KeyARN, 0)
	want := f.documents(t, c, dk, 5)
	f.documents(t, other, f.dataKey(t, o.ID, other.ID, o.KeyARN, 0), 2)
	var got []store.SealedDocument
	var buf []byte
	page := domain.Page{Limit: 2}
	for {
		target, docs, next, b, err := f.st.ReadDocuments(t.Context(), o.ID, c.ID, "", page, buf[:0])
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
	if _, _, _, _, err := f.st.ReadDocuments(t.Context(), o.ID, "col_0000000000000000", "", domain.Page{Limit: 2}, nil); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a missing collection: %v", err)
	}
	if _, _, _, _, err := f.st.ReadDocuments(t.Context(), "org_0000000000000000", c.ID, "", domain.Page{Limit: 2}, nil); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a missing organisation: %v", err)
	}
}

// TestStore_ReadDocument_OneDocumentTargetAndToken: a single read answers the target and the document
// as stored (nil when the collection has no such document), and checks the token it is made with in
// the same statement: a revoked one is ErrTokenNotLive, whatever else the read would answer.
func TestStore_ReadDocument_OneDocumentTargetAndToken(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o := f.org(t, domain.ModeCustomerManaged)
	c := f.collection(t, o.ID, region)
	want := f.documents(t, c, f.dataKey(t, o.ID, c.ID, o.KeyARN, 0), 2)[1]
	live, revoked := f.token(t, o.ID), f.token(t, o.ID)
	if err := f.st.RevokeToken(t.Context(), o.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"", live.ID} {
		target, d, err := f.st.ReadDocument(t.Context(), o.ID, c.ID, want.ID, tok)
		if err != nil || d == nil || target.State != domain.StateActive || len(target.Org.Links) != 1 {
			t.Fatalf("token %q: %+v %+v %v", tok, target, d, err)
		}
		if d.ID != want.ID || d.DataKeyID != want.DataKeyID || d.AADVersion != want.AADVersion || !d.CreatedAt.Equal(want.CreatedAt) ||
			!bytes.Equal(d.Nonce, want.Nonce) || !bytes.Equal(d.Ciphertext, want.Ciphertext) || !bytes.Equal(d.Sealed, append(bytes.Clone(want.Nonce), want.Ciphertext...)) {
			t.Fatalf("read %+v, want %+v", d, want)
		}
		if _, d, err := f.st.ReadDocument(t.Context(), o.ID, c.ID, "doc_missing", tok); err != nil || d != nil {
			t.Fatalf("a missing document: %+v %v", d, err)
		}
	}
	for name, ids := range map[string][3]string{
		"a document":           {o.ID, c.ID, want.ID},
		"a missing document":   {o.ID, c.ID, "doc_missing"},
		"a missing collection": {o.ID, "col_0000000000000000", want.ID},
	} {
		if _, _, err := f.st.ReadDocument(t.Context(), ids[0], ids[1], ids[2], revoked.ID); !errors.Is(err, store.ErrTokenNotLive) {
			t.Errorf("%s with a revoked token: %v", name, err)
		}
	}
	if _, _, _, _, err := f.st.ReadDocuments(t.Context(), o.ID, c.ID, revoked.ID, domain.Page{Limit: 2}, nil); !errors.Is(err, store.ErrTokenNotLive) {
		t.Errorf("a page with a revoked token: %v", err)
	}
	if _, _, err := f.st.ReadDocument(t.Context(), "org_0000000000000000", c.ID, want.ID, live.ID); !errors.Is(err, domain.ErrNotFound) {
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

// TestStore_WriteIngest_SealsAsItSends: documents sealed by w.Seal as the write streams them, larger
// than the connection's chunks, read back byte for byte; a second write under the same live answer
// stores nothing (stored false) and leaves the count alone.
func TestStore_WriteIngest_SealsAsItSends(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o, c, k, w := f.ingestInto(t)
	sizes := []int{100 << 10, 1, 70 << 10, 200 << 10}
	var want [][]byte
	w.Replay = &store.ReplayRecord{ReplayKey: store.ReplayKey{Scope: "documents:" + c.ID + "|t", Key: "k'1\\"},
		RequestHash: []byte{1, 2, 3}, Replay: store.Replay{Body: []byte(`{"ids":[]}`)}}
	for i, n := range sizes {
		w.IDs = append(w.IDs, domain.NewID("doc"))
		want = append(want, append(bytes.Repeat([]byte{byte('a' + i)}, 12), bytes.Repeat([]byte{byte(i)}, n)...))
	}
	w.Seal = func(i int, dst []byte) ([]byte, error) { return append(dst, want[i]...), nil }
	if state, stored, err := f.st.WriteIngest(t.Context(), w, []string{domain.StatePaused}); err != nil || !stored || state != "" {
		t.Fatalf("WriteIngest = %q, %v, %v", state, stored, err)
	}
	docs, _, err := f.st.Documents(t.Context(), o.ID, c.ID, domain.Page{Limit: 10})
	if err != nil || len(docs) != len(sizes) {
		t.Fatalf("Documents = %d, %v; want %d", len(docs), err, len(sizes))
	}
	for i, d := range docs {
		if d.ID != w.IDs[i] || !bytes.Equal(append(bytes.Clone(d.Nonce), d.Ciphertext...), want[i]) {
			t.Errorf("document %d (%d bytes) does not read back as sent", i, sizes[i])
		}
	}
	again := w
	again.IDs = []string{domain.NewID("doc")}
	if state, stored, err := f.st.WriteIngest(t.Context(), again, []string{domain.StatePaused}); err != nil || stored || state != domain.StateActive {
		t.Fatalf("WriteIngest under a live answer = %q, %v, %v; want nothing stored", state, stored, err)
	}
	if k, err := f.st.WrappedDataKey(t.Context(), k.ID, o.KeyARN); err != nil || k.Uses != len(sizes) {
		t.Errorf("data key has %d uses (%v), want %d", k.Uses, err, len(sizes))
	}
}

// TestStore_WriteIngest_SurvivesDeallocate: a connection whose prepared statements were dropped
// behind the driver's back still takes ingests.
func TestStore_WriteIngest_SurvivesDeallocate(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	// One connection: the DEALLOCATE runs where the ingests do.
	st := testkit.OpenStore(t, testkit.Database(t), store.Options{Clock: clk, MaxConns: 1})
	f := &fixture{st: st, clock: clk}
	_, _, _, empty := f.ingestInto(t)
	for range 2 {
		w := empty
		w.Add(domain.NewID("doc"), bytes.Repeat([]byte{7}, 40))
		if _, stored, err := f.st.WriteIngest(t.Context(), w, nil); err != nil || !stored {
			t.Fatalf("WriteIngest = %v, %v", stored, err)
		}
		if err := f.st.Exec(t.Context(), `DEALLOCATE ALL`); err != nil {
			t.Fatal(err)
		}
	}
}

// ingestInto makes a customer-managed organisation, a collection of it and a data key of that, and
// an empty write into them.
func (f *fixture) ingestInto(t *testing.T) (domain.Org, domain.Collection, store.DataKey, store.IngestWrite) {
	t.Helper()
	o := f.org(t, domain.ModeCustomerManaged)
	c := f.collection(t, o.ID, region)
	k := f.dataKey(t, o.ID, c.ID, o.KeyARN, 0)
	return o, c, k, store.IngestWrite{OrgID: o.ID, CollectionID: c.ID, DataKeyID: k.ID, AADVersion: 2, CreatedAt: f.st.Now()}
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
