package backups_test

import (
	"fmt"
	"testing"
	"time"

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
	if _, err := f.db.Exec(b.Context(), `CREATE TABLE bench_copy (LIKE documents)`); err != nil {
		b.Fatal(err)
	}
	perSecond := func(b *testing.B, start time.Time) {
		b.ReportMetric(float64(b.N*benchDocuments)/time.Since(start).Seconds(), "docs/s")
	}

	b.Run("direct_copy", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			if _, err := f.db.Exec(b.Context(), `INSERT INTO bench_copy SELECT * FROM documents WHERE org_id = $1 AND collection_id = $2`,
				o.ID, col.ID); err != nil {
				b.Fatal(err)
			}
			if _, err := f.db.Exec(b.Context(), `TRUNCATE bench_copy`); err != nil {
				b.Fatal(err)
			}
		}
		perSecond(b, start)
	})

	var last domain.Backup
	b.Run("backup", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			bk, err := f.svc.Create(b.Context(), admin, o, col.ID)
			if err != nil {
				b.Fatal(err)
			}
			last = f.waitState(b, o, bk.ID, domain.BackupComplete)
		}
		perSecond(b, start)
	})

	b.Run("restore", func(b *testing.B) {
		start := time.Now()
		n := 0
		for b.Loop() {
			n++
			if _, err := f.svc.Restore(b.Context(), admin, o, last.ID, fmt.Sprintf("restored-%d-%d", b.N, n)); err != nil {
				b.Fatal(err)
			}
		}
		perSecond(b, start)
	})
}
