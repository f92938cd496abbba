package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
)

func TestStore_Replay(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h1, h2 := hash("body 1"), hash("body 2")
	replayed := func(key string, h []byte) (*store.Replay, error) {
		return f.st.Replayed(t.Context(), "POST /v1/orgs|admin", key, h)
	}
	save := func(key string, h []byte, body string) bool {
		t.Helper()
		err := f.st.InTx(t.Context(), func(tx *store.Q) error {
			return tx.SaveReplay(t.Context(), "POST /v1/orgs|admin", key, h, store.Replay{Body: []byte(body)})
		})
		if err != nil && !errors.Is(err, store.ErrReplayLost) {
			t.Fatal(err)
		}
		return err == nil
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
		if err := f.st.SaveReplay(t.Context(), "s", key, hash(key), store.Replay{Body: []byte("{}")}); err != nil {
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
