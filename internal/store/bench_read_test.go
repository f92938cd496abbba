package store_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/testkit"
	"github.com/jackc/pgx/v5"
)

// BenchmarkReadDocuments times ReadDocuments, a page of 100 sealed documents of about 1 KiB with
// what a read needs of the organisation and the collection, beside its floor: the same page with pgx.
func BenchmarkReadDocuments(b *testing.B) {
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
	for i := range 1000 {
		ct := make([]byte, 1024)
		rand.Read(ct)
		docs = append(docs, store.SealedDocument{ID: domain.NewID("doc"), OrgID: o.ID, CollectionID: c.ID, DataKeyID: k.ID,
			AADVersion: 2, Nonce: ct[:12], Ciphertext: ct[12:], CreatedAt: now})
		_ = i
	}
	if err := st.InsertDocuments(ctx, docs); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Run("store", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			_, docs, _, nb, err := st.ReadDocuments(ctx, o.ID, c.ID, domain.Page{Limit: 100}, buf[:0])
			if err != nil || len(docs) != 100 {
				b.Fatal(len(docs), err)
			}
			buf = nb
		}
	})
	b.Run("floor", func(b *testing.B) {
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
	_ = fmt.Sprint
}
