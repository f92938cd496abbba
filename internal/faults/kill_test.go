package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// batch is one idempotent ingestion and what its first attempt got back.
type batch struct {
	key  string
	docs []string // each document's JSON text, as cmekd stores it (compact, keys in order sent)
	body []byte
	// answered is set when the first attempt got a 201 before the kill; ids are its answer.
	answered bool
	ids      []string
}

func newBatch(worker, n, size int) *batch {
	b := &batch{key: fmt.Sprintf("kill9-w%d-b%d", worker, n)}
	docs := make([]json.RawMessage, size)
	for i := range docs {
		b.docs = append(b.docs, fmt.Sprintf(`{"batch":%q,"i":%d}`, b.key, i))
		docs[i] = json.RawMessage(b.docs[i])
	}
	b.body, _ = json.Marshal(map[string]any{"documents": docs})
	return b
}

// TestFaults_KillNineLosesNoAcknowledgedIngest ("a server killed at any moment loses no
// acknowledged write"): workers post document batches, each under its own Idempotency-Key, to the
// real server binary; the server is SIGKILLed mid-flight and started again on the same database.
// Then every batch that got a 201 reads back exactly; a retry of every batch (same key, same body)
// answers 201 with the first answer's ids, or, for a batch that never got an answer, with ids now;
// and the collection holds exactly one copy of every batch.
func TestFaults_KillNineLosesNoAcknowledgedIngest(t *testing.T) {
	t.Parallel()
	dbURL := testkit.Database(t)
	s := newStack(t, dbURL)
	srv := s.startServer()
	_, docsPath := s.orgAndCollection()

	const workers, size = 8, 5
	var (
		mu      sync.Mutex
		batches []*batch
		acked   atomic.Int64
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				b := newBatch(w, n, size)
				mu.Lock()
				batches = append(batches, b)
				mu.Unlock()
				a, err := call(context.Background(), "POST", s.URL+docsPath, b.body, map[string]string{"Idempotency-Key": b.key})
				if err != nil {
					return // the server is gone: this batch has no answer
				}
				if a.Status != http.StatusCreated {
					t.Errorf("batch %s before the kill: %d %s", b.key, a.Status, a.Body)
					return
				}
				got, err := ids(a.Body)
				if err != nil || len(got) != size {
					t.Errorf("batch %s before the kill answered %s", b.key, a.Body)
					return
				}
				mu.Lock()
				b.answered, b.ids = true, got
				mu.Unlock()
				acked.Add(1)
			}
		}()
	}
	// Kill once the server is busy: enough answers to check, while every worker has a request out.
	deadline := time.Now().Add(20 * time.Second)
	for acked.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	srv.kill()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var unanswered int
	for _, b := range batches {
		if !b.answered {
			unanswered++
		}
	}
	t.Logf("killed with %d batches acknowledged and %d in flight", acked.Load(), unanswered)
	if acked.Load() == 0 {
		t.Fatal("no batch was acknowledged before the kill: nothing to check")
	}

	s.startServer()

	db, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var before int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM documents`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	// Batches in flight may or may not have committed; either is allowed, a partial one is not.
	if extra := before - int(acked.Load())*size; extra < 0 || extra%size != 0 || extra/size > unanswered {
		t.Errorf("after the kill documents holds %d rows for %d acknowledged batches of %d and %d in flight", before, acked.Load(), size, unanswered)
	} else {
		t.Logf("%d of the %d batches in flight had committed without an answer", extra/size, unanswered)
	}

	// Every acknowledged document reads back as it was sent.
	for _, b := range batches {
		if !b.answered {
			continue
		}
		for i, id := range b.ids {
			d := s.must(http.StatusOK, "GET", docsPath+"/"+id, nil)
			data, _ := json.Marshal(d["data"])
			// Marshalling a decoded object sorts its keys; the documents' keys are already in order.
			if d["id"] != id || string(data) != b.docs[i] {
				t.Errorf("batch %s document %d (%s) reads %s, want %s", b.key, i, id, data, b.docs[i])
			}
		}
	}

	// A retry of every batch gets the first answer, or a first answer now.
	for _, b := range batches {
		a, err := call(context.Background(), "POST", s.URL+docsPath, b.body, map[string]string{"Idempotency-Key": b.key})
		if err != nil {
			t.Fatalf("retry of batch %s: %v", b.key, err)
		}
		got, err := ids(a.Body)
		switch {
		case a.Status != http.StatusCreated || err != nil || len(got) != size:
			t.Errorf("retry of batch %s = %d %s, want 201 with %d ids", b.key, a.Status, a.Body, size)
			continue
		case b.answered && fmt.Sprint(got) != fmt.Sprint(b.ids):
			t.Errorf("retry of acknowledged batch %s answered ids %v, the first answer was %v", b.key, got, b.ids)
		}
		b.ids = got
	}

	// Exactly one copy of each batch: its ids each name one row, and the collection holds nothing else.
	var total int
	for _, b := range batches {
		var n int
		if err := db.QueryRow(context.Background(), `SELECT count(*) FROM documents WHERE id = ANY($1)`, b.ids).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != size {
			t.Errorf("batch %s: %d rows in documents for its %d ids", b.key, n, size)
		}
		total += size
	}
	var stored int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM documents`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != total {
		t.Errorf("documents holds %d rows for %d batches of %d: a batch was stored twice or partly", stored, len(batches), size)
	}
}
