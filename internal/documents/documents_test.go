package documents_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/idempotency"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/doctest"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
)

type fixture struct {
	st          *store.Store
	dbURL       string
	env         *kmstest.Env
	svc         *documents.Service
	providerKey string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dbURL: testkit.Database(t), env: kmstest.StartEmulator(t)}
	st := testkit.OpenStore(t, f.dbURL, store.Options{})
	f.st = st
	f.providerKey = f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})
	f.svc, _ = doctest.New(st, f.env.PlatformClient(t), doctest.Options{MaxUses: 100, CacheEntries: 10,
		ProviderKeys: domain.ProviderKeys{f.providerKey}})
	return f
}

// collection stores an organisation of mode with one collection in state.
func (f *fixture) collection(t *testing.T, mode, state string) (domain.Org, domain.Collection) {
	t.Helper()
	o := domain.Org{ID: domain.NewID("org"), Name: domain.NewID("name"), Region: f.env.Region, Mode: mode, CreatedAt: f.st.Now()}
	if mode == domain.ModeCustomerManaged {
		o.KeyARN = f.env.CreateCustomerKey(t, f.env.Region, kmstest.KeyOptions{})
	}
	c := domain.Collection{ID: domain.NewID("col"), OrgID: o.ID, Name: "docs", Region: o.Region, State: state,
		StateChangedAt: f.st.Now(), Recoverable: true, CreatedAt: f.st.Now()}
	err := f.st.InTx(t.Context(), func(tx *store.Q) error {
		if err := tx.InsertOrg(t.Context(), o); err != nil {
			return err
		}
		return tx.InsertCollection(t.Context(), c)
	})
	if err != nil {
		t.Fatal(err)
	}
	return o, c
}

func raw(docs ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(docs))
	for i, d := range docs {
		out[i] = json.RawMessage(d)
	}
	return out
}

func (f *fixture) ingest(t *testing.T, o domain.Org, c domain.Collection, key idempotency.Key, docs ...string) ([]string, error) {
	t.Helper()
	res, err := f.svc.Ingest(t.Context(), o.ID, c.ID, raw(docs...), key)
	return res.IDs, err
}

func wantCode(t *testing.T, what string, err error, kind domain.Kind, code string) {
	t.Helper()
	if e, ok := domain.AsError(err); !ok || e.Kind != kind || e.Code != code {
		t.Errorf("%s: %v, want %s", what, err, code)
	}
}

func (f *fixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), f.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func TestDocuments_IngestGetListRoundTrip(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, mode := range []string{domain.ModeCustomerManaged, domain.ModeProviderManaged} {
		o, c := f.collection(t, mode, domain.StateActive)
		bodies := []string{`{"n":1}`, `{"n":2,"tags":["a"]}`, `{"n":3}`}
		ids, err := f.ingest(t, o, c, idempotency.Key{}, bodies...)
		if err != nil || len(ids) != 3 {
			t.Fatalf("%s: Ingest = %v, %v", mode, ids, err)
		}
		for i, id := range ids {
			d, err := f.svc.Get(t.Context(), o.ID, c.ID, id)
			if err != nil || d.ID != id || string(d.Data) != bodies[i] || d.CreatedAt.IsZero() {
				t.Errorf("%s: Get %s = %+v, %v; want %s", mode, id, d, err, bodies[i])
			}
		}
		var got []string
		page := domain.Page{Limit: 2}
		for {
			p, err := f.svc.List(t.Context(), o.ID, c.ID, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range p.Docs {
				got = append(got, string(d.Data))
			}
			// Released, a page's buffer holds no plaintext: it is wiped before another read takes it.
			data := p.Docs[0].Data
			p.Release()
			if string(data) != string(make([]byte, len(data))) {
				t.Errorf("%s: a released page still holds %q", mode, data)
			}
			if p.Next == "" {
				break
			}
			page.Cursor = p.Next
		}
		if !reflect.DeepEqual(got, bodies) {
			t.Errorf("%s: List read %v, want %v", mode, got, bodies)
		}
		sealed, _, _ := f.st.Documents(t.Context(), o.ID, c.ID, domain.Page{Limit: 10})
		wantKey := o.KeyARN
		if mode == domain.ModeProviderManaged {
			wantKey = f.providerKey
		}
		dk, err := f.st.WrappedDataKey(t.Context(), sealed[0].DataKeyID, wantKey)
		if err != nil || dk.KeyARN != wantKey || dk.Uses != 3 {
			t.Errorf("%s: data key wrapped by %s with %d uses (%v), want %s with 3", mode, dk.KeyARN, dk.Uses, err, wantKey)
		}
	}
}

func TestDocuments_IngestReplaysIdempotencyKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o, c := f.collection(t, domain.ModeCustomerManaged, domain.StateActive)
	key, _ := idempotency.New(nil, "test secret").Key("batch-1", "POST documents", "token:tok_1", []byte(`[{"a":1}]`))
	first, err := f.ingest(t, o, c, key, `{"a":1}`)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.ingest(t, o, c, key, `{"a":1}`)
	if err != nil || !reflect.DeepEqual(again, first) {
		t.Fatalf("replay = %v, %v; want %v", again, err, first)
	}
	other, _ := idempotency.New(nil, "test secret").Key("batch-1", "POST documents", "token:tok_1", []byte(`[{"a":2}]`))
	_, err = f.ingest(t, o, c, other, `{"a":2}`)
	wantCode(t, "another body under the key", err, domain.KindInvalid, domain.CodeIdempotencyKeyReused)
	if p, err := f.svc.List(t.Context(), o.ID, c.ID, domain.Page{Limit: 10}); err != nil || len(p.Docs) != 1 {
		t.Fatalf("documents stored: %+v, %v; want 1", p, err)
	}
}

func TestDocuments_RefusalsByCollectionState(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o, c := f.collection(t, domain.ModeCustomerManaged, domain.StateActive)
	ids, err := f.ingest(t, o, c, idempotency.Key{}, `{"before":true}`)
	if err != nil {
		t.Fatal(err)
	}

	if err := f.st.SetCollectionState(t.Context(), c.ID, domain.StateIngestHalted, domain.CodeKeyDisabled, f.st.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = f.ingest(t, o, c, idempotency.Key{}, `{"during":"halt"}`)
	wantCode(t, "ingest while halted", err, domain.KindConflict, domain.CodeCollectionIngestHalted)
	if d, err := f.svc.Get(t.Context(), o.ID, c.ID, ids[0]); err != nil || string(d.Data) != `{"before":true}` {
		t.Errorf("a halted collection still reads: %+v, %v", d, err)
	}

	if err := f.st.SetCollectionState(t.Context(), c.ID, domain.StatePaused, domain.CodeKeyDisabled, f.st.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = f.ingest(t, o, c, idempotency.Key{}, `{"during":"pause"}`)
	wantCode(t, "ingest while paused", err, domain.KindConflict, domain.CodeCollectionPaused)
	_, err = f.svc.Get(t.Context(), o.ID, c.ID, ids[0])
	wantCode(t, "get while paused", err, domain.KindConflict, domain.CodeCollectionPaused)
	_, err = f.svc.List(t.Context(), o.ID, c.ID, domain.Page{Limit: 10})
	wantCode(t, "list while paused", err, domain.KindConflict, domain.CodeCollectionPaused)

	if n, _, _ := f.st.Documents(t.Context(), o.ID, c.ID, domain.Page{Limit: 10}); len(n) != 1 {
		t.Errorf("%d documents stored, want the one from before", len(n))
	}
}

func TestDocuments_UnknownCollectionOrDocumentIsNotFound(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o, c := f.collection(t, domain.ModeCustomerManaged, domain.StateActive)
	other, _ := f.collection(t, domain.ModeProviderManaged, domain.StateActive)
	ids, err := f.ingest(t, o, c, idempotency.Key{}, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"another org's collection": func() error { _, err := f.svc.Get(t.Context(), other.ID, c.ID, ids[0]); return err }(),
		"an unknown document":      func() error { _, err := f.svc.Get(t.Context(), o.ID, c.ID, "doc_missing"); return err }(),
		"ingest into no collection": func() error {
			_, err := f.ingest(t, o, domain.Collection{ID: "col_missing"}, idempotency.Key{}, `{}`)
			return err
		}(),
	} {
		if !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", what, err)
		}
	}
}

func TestDocuments_CorruptRowIsIntegrityFailure(t *testing.T) {
	t.Parallel()
	f := setup(t)
	o, c := f.collection(t, domain.ModeCustomerManaged, domain.StateActive)
	ids, err := f.ingest(t, o, c, idempotency.Key{}, `{"a":1}`, `{"b":2}`, `{"c":3}`)
	if err != nil {
		t.Fatal(err)
	}
	// One flipped ciphertext byte, and one document given another's id.
	f.exec(t, `UPDATE documents SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) WHERE id = $1`, ids[0])
	f.exec(t, `UPDATE documents SET id = 'doc_moved' WHERE id = $1`, ids[1])
	for what, id := range map[string]string{"tampered": ids[0], "moved": "doc_moved"} {
		_, err := f.svc.Get(t.Context(), o.ID, c.ID, id)
		wantCode(t, what, err, domain.KindInternal, domain.CodeDocumentIntegrity)
	}
	p, err := f.svc.List(t.Context(), o.ID, c.ID, domain.Page{Limit: 10})
	wantCode(t, "list", err, domain.KindInternal, domain.CodeDocumentIntegrity)
	if p != nil {
		t.Errorf("a failed list returned %d documents", len(p.Docs))
	}
	if d, err := f.svc.Get(t.Context(), o.ID, c.ID, ids[2]); err != nil || string(d.Data) != `{"c":3}` {
		t.Errorf("the untouched document: %+v, %v", d, err)
	}
}
