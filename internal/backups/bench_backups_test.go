package backups_test

import (
	"fmt"
	"testing"

	"github.com/cmekd/cmekd/internal/domain"
)

// benchDocuments is the size of the collection the backup benchmarks copy.
const benchDocuments = 10_000

// BenchmarkBackups measures backup and restore throughput (documents per second) of one collection
// of benchDocuments small documents, beside the floor of a direct copy of the same rows inside
// PostgreSQL (one INSERT … SELECT, no KMS, no progress, no pages). A backup adds to that floor its
// pages, its progress writes and one KMS ReEncrypt per data key; a restore adds decrypting and
// sealing every document again under a new data key.
func BenchmarkBackups(b *testing.B) {
	f := setup(b, 0)
	o := f.org(b, true)
	col := f.collection(b, o, "bench")
	f.ingest(b, o, col, 0, benchDocuments)
	// The floors: the same rows into a bare table, and into one shaped as backup_documents (its
	// primary key included), each by one INSERT … SELECT.
	for _, ddl := range []string{`CREATE TABLE bench_copy (LIKE documents)`, `CREATE TABLE bench_copy_keyed (LIKE backup_documents INCLUDING ALL)`} {
		if _, err := f.db.Exec(b.Context(), ddl); err != nil {
			b.Fatal(err)
		}
	}
	perSecond := func(b *testing.B) {
		b.ReportMetric(float64(b.N*benchDocuments)/b.Elapsed().Seconds(), "docs/s")
	}
	for _, floor := range []struct{ name, copy, empty string }{
		{"direct_copy", `INSERT INTO bench_copy SELECT * FROM documents WHERE org_id = $1 AND collection_id = $2`, `TRUNCATE bench_copy`},
		{"direct_copy_keyed", `INSERT INTO bench_copy_keyed (backup_id, seq, doc_id, data_key_id, aad_version, nonce, ciphertext, created_at)
SELECT 'bak_bench', seq, id, data_key_id, aad_version, nonce, ciphertext, created_at FROM documents WHERE org_id = $1 AND collection_id = $2`,
			`TRUNCATE bench_copy_keyed`},
	} {
		b.Run(floor.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := f.db.Exec(b.Context(), floor.copy, o.ID, col.ID); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := f.db.Exec(b.Context(), floor.empty); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			perSecond(b)
		})
	}

	backup := func(b *testing.B) domain.Backup {
		bk, err := f.svc.Create(b.Context(), admin, o, col.ID)
		if err != nil {
			b.Fatal(err)
		}
		return f.waitState(b, o, bk.ID, domain.BackupComplete)
	}
	b.Run("backup", func(b *testing.B) {
		for b.Loop() {
			backup(b)
		}
		perSecond(b)
	})

	b.Run("restore", func(b *testing.B) {
		last := backup(b)
		n := 0
		for b.Loop() {
			n++
			if _, err := f.svc.Restore(b.Context(), admin, o, last.ID, fmt.Sprintf("restored-%d-%d", b.N, n)); err != nil {
				b.Fatal(err)
			}
		}
		perSecond(b)
	})
}
