package store_test

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/jackc/pgx/v5"
)

// BenchmarkStatements times the store's statements on the documents path against a fresh database,
// each beside its floor with pgx (the *_floor runs), so that the database's share of a request can be
// told from the service's: read (ReadDocuments, a page of 100 sealed documents of about 1 KiB with
// what a read needs of the organisation and the collection; floor: the same page with one select),
// write (WriteIngest of 100; floor: CopyFrom of the same rows) and org (Org; floor: the row by id).
func BenchmarkStatements(b *testing.B) {
	ctx := context.Background()
	url := testkit.Database(b)
	st, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(ctx)
	now := st.Now()
	o := domain.Org{ID: domain.NewID("org"), Name: "bench", Region: region, Mode: domain.ModeCustomerManaged,
		KeyARN: arnOf(1), KeyStatus: domain.KeyHealthy, CreatedAt: now}
	if err := st.InsertOrg(ctx, o); err != nil {
		b.Fatal(err)
	}
	c := domain.Collection{ID: domain.NewID("col"), OrgID: o.ID, Name: "bench", Region: region,
		State: domain.StateActive, StateChangedAt: now, Recoverable: true, CreatedAt: now}
	if err := st.InsertCollection(ctx, c); err != nil {
		b.Fatal(err)
	}
	k := store.DataKey{ID: domain.NewID("dek"), OrgID: o.ID, Purpose: "documents", OwnerID: c.ID, KeyARN: o.KeyARN,
		Wrapped: []byte("wrapped"), CreatedAt: now}
	if err := st.InsertDataKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	var docs []store.SealedDocument
	for range 1000 {
		ct := make([]byte, 1024)
		rand.Read(ct)
		docs = append(docs, store.SealedDocument{ID: domain.NewID("doc"), OrgID: o.ID, CollectionID: c.ID, DataKeyID: k.ID,
			AADVersion: 2, Nonce: ct[:12], Ciphertext: ct[12:], CreatedAt: now})
	}
	if err := st.InsertDocuments(ctx, docs); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Run("read", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			_, docs, _, nb, err := st.ReadDocuments(ctx, o.ID, c.ID, "", domain.Page{Limit: 100}, buf[:0])
			if err != nil || len(docs) != 100 {
				b.Fatal(len(docs), err)
			}
			buf = nb
		}
	})
	b.Run("read_floor", func(b *testing.B) {
		for b.Loop() {
			rows, err := db.Query(ctx, `SELECT seq, id, org_id, collection_id, data_key_id, aad_version, nonce, ciphertext, created_at
FROM documents WHERE org_id = $1 AND collection_id = $2 AND seq > $3 ORDER BY collection_id, seq LIMIT $4`, o.ID, c.ID, 0, 101)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var d store.SealedDocument
				if err := rows.Scan(&d.Seq, &d.ID, &d.OrgID, &d.CollectionID, &d.DataKeyID, &d.AADVersion, &d.Nonce, &d.Ciphertext, &d.CreatedAt); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if rows.Err() != nil || n != 101 {
				b.Fatal(n, rows.Err())
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, d, err := st.ReadDocument(ctx, o.ID, c.ID, docs[i%len(docs)].ID, ""); err != nil || d == nil {
				b.Fatal(d, err)
			}
			i++
		}
	})
	b.Run("get_floor", func(b *testing.B) {
		i := 0
		for b.Loop() {
			var d store.SealedDocument
			if err := db.QueryRow(ctx, `SELECT seq, id, org_id, collection_id, data_key_id, aad_version, nonce, ciphertext, created_at
FROM documents WHERE org_id = $1 AND collection_id = $2 AND id = $3`, o.ID, c.ID, docs[i%len(docs)].ID).Scan(
				&d.Seq, &d.ID, &d.OrgID, &d.CollectionID, &d.DataKeyID, &d.AADVersion, &d.Nonce, &d.Ciphertext, &d.CreatedAt); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("write", func(b *testing.B) {
		for b.Loop() {
			w := store.IngestWrite{OrgID: o.ID, CollectionID: c.ID, DataKeyID: k.ID, AADVersion: 2, CreatedAt: st.Now()}
			for _, d := range docs[:100] {
				w.Add(domain.NewID("doc"), d.Nonce[:len(d.Nonce)+len(d.Ciphertext)])
			}
			if _, ok, err := st.WriteIngest(ctx, w, []string{"paused"}); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("write_floor", func(b *testing.B) {
		for b.Loop() {
			now := st.Now()
			n, err := db.CopyFrom(ctx, pgx.Identifier{"documents"},
				[]string{"id", "org_id", "collection_id", "data_key_id", "aad_version", "nonce", "ciphertext", "created_at"},
				pgx.CopyFromSlice(100, func(j int) ([]any, error) {
					d := docs[j]
					return []any{domain.NewID("doc"), o.ID, c.ID, k.ID, int16(2), d.Nonce, d.Ciphertext, now}, nil
				}))
			if err != nil || n != 100 {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("org", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.Org(ctx, o.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("org_floor", func(b *testing.B) {
		for b.Loop() {
			var id string
			if err := db.QueryRow(ctx, `SELECT id FROM orgs WHERE id = $1`, o.ID).Scan(&id); err != nil {
				b.Fatal(err)
			}
		}
	})
}
