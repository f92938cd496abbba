package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cmekd/cmekd/internal/domain"
)

// InSnapshot runs fn in a REPEATABLE READ transaction: every statement of fn sees the database as it
// was at fn's first statement, whatever commits meanwhile, so that a copy made page by page is one
// consistent moment. It commits when fn returns nil and rolls back otherwise.
func (s *Store) InSnapshot(ctx context.Context, fn func(*Q) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after commit
	if err := fn(&Q{db: tx, clock: s.clock, stamp: s.Now()}); err != nil {
		return err
	}
	return translate(tx.Commit(ctx))
}

// BackupKey is a backup's own wrapped copy of one data key of its collection.
type BackupKey struct {
	BackupID, DataKeyID string
	// SourceKeyARN wrapped the data key when the documents were sealed; AAD version 2 binds it.
	SourceKeyARN string
	// KeyARN wraps Wrapped (the backup's key), bound to {cmekd:org, cmekd:backup}.
	KeyARN  string
	Wrapped []byte
}

// BackupDocument is one document of a backup as it was stored in its collection: ciphertext only.
type BackupDocument struct {
	Seq               int64
	DocID, DataKeyID  string
	AADVersion        int
	Nonce, Ciphertext []byte
	CreatedAt         time.Time
}

// backupSelect reads a backup with its progress: a running backup's count is its run's, which the
// copy updates from outside its transaction.
const backupSelect = `
SELECT b.id, b.org_id, b.collection_id, b.region, b.key_arn, b.key_purpose, b.state,
       CASE WHEN b.state = 'running' THEN coalesce(r.documents, 0) ELSE b.documents END, b.created_at, b.finished_at
FROM backups b LEFT JOIN backup_runs r ON r.backup_id = b.id`

func scanBackup(r pgx.Row) (domain.Backup, error) {
	var b domain.Backup
	err := r.Scan(&b.ID, &b.OrgID, &b.CollectionID, &b.Region, &b.KeyARN, &b.KeyPurpose, &b.State, &b.Documents, &b.CreatedAt, &b.FinishedAt)
	b.CreatedAt = b.CreatedAt.UTC()
	if b.FinishedAt != nil {
		t := b.FinishedAt.UTC()
		b.FinishedAt = &t
	}
	return b, translateMissing(err, "backup")
}

// InsertBackup stores a running backup with its run, leased to owner until leaseUntil.
func (q *Q) InsertBackup(ctx context.Context, b domain.Backup, owner string, leaseUntil time.Time) error {
	_, err := q.db.Exec(ctx, `
WITH b AS (
    INSERT INTO backups (id, org_id, collection_id, region, key_arn, key_purpose, state, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
)
INSERT INTO backup_runs (backup_id, lease_owner, lease_until) VALUES ($1, $9, $10)`,
		b.ID, b.OrgID, b.CollectionID, b.Region, b.KeyARN, b.KeyPurpose, b.State, b.CreatedAt, owner, leaseUntil)
	return translate(err)
}

// Backup reads one backup of an organisation.
func (q *Q) Backup(ctx context.Context, orgID, id string) (domain.Backup, error) {
	return scanBackup(q.db.QueryRow(ctx, backupSelect+` WHERE b.org_id = $1 AND b.id = $2`, orgID, id))
}

// Backups lists an organisation's backups, newest first, of one collection when collectionID is set.
func (q *Q) Backups(ctx context.Context, orgID, collectionID string, page domain.Page) ([]domain.Backup, string, error) {
	return list(ctx, q, page, func(after cursor, limit int) (string, []any) {
		if after.At.IsZero() {
			after.At, after.ID = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), ""
		}
		return backupSelect + `
WHERE b.org_id = $1 AND ($2 = '' OR b.collection_id = $2) AND (b.created_at, b.id) < ($3, $4)
ORDER BY b.created_at DESC, b.id DESC LIMIT $5`, []any{orgID, collectionID, after.At, after.ID, limit}
	}, scanBackup, func(b domain.Backup) cursor { return cursor{At: b.CreatedAt, ID: b.ID} })
}

// DeleteBackup removes a backup that is not running, with its documents and data-key copies; it
// answers the backup as it was.
func (q *Q) DeleteBackup(ctx context.Context, orgID, id string) (domain.Backup, error) {
	b, err := q.Backup(ctx, orgID, id)
	if err != nil {
		return b, err
	}
	if b.State == domain.BackupRunning {
		return b, errBackupRunning
	}
	tag, err := q.db.Exec(ctx, `DELETE FROM backups WHERE org_id = $1 AND id = $2 AND state <> 'running'`, orgID, id)
	if err != nil {
		return b, translate(err)
	}
	if tag.RowsAffected() == 0 {
		return b, domain.NotFound("backup")
	}
	return b, nil
}

var errBackupRunning = domain.Errorf(domain.KindConflict, domain.CodeBackupRunning,
	"the backup is still being copied; delete it once it is complete or failed")

// DiscardBackup removes a backup whatever its state: one whose copy was refused before it began.
func (q *Q) DiscardBackup(ctx context.Context, id string) error {
	_, err := q.db.Exec(ctx, `DELETE FROM backups WHERE id = $1`, id)
	return translate(err)
}

// DocumentDataKeys lists the data keys of a collection with their copies wrapped by keyARN, the
// collection's wrapping key.
func (q *Q) DocumentDataKeys(ctx context.Context, orgID, purpose, ownerID, keyARN string) ([]DataKey, error) {
	rows, err := q.db.Query(ctx, dataKeySelect+`
WHERE k.org_id = $1 AND k.purpose = $2 AND k.owner_id = $3 AND w.key_arn = $4 ORDER BY k.created_at, k.id`, orgID, purpose, ownerID, keyARN)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, scanDataKey)
}

// InsertBackupKeys stores a backup's wrapped data-key copies.
func (q *Q) InsertBackupKeys(ctx context.Context, keys []BackupKey) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := q.db.CopyFrom(ctx, pgx.Identifier{"backup_keys"},
		[]string{"backup_id", "data_key_id", "source_key_arn", "key_arn", "wrapped"},
		pgx.CopyFromSlice(len(keys), func(i int) ([]any, error) {
			k := keys[i]
			return []any{k.BackupID, k.DataKeyID, k.SourceKeyARN, k.KeyARN, k.Wrapped}, nil
		}))
	return translate(err)
}

// BackupKeys lists a backup's wrapped data-key copies.
func (q *Q) BackupKeys(ctx context.Context, backupID string) ([]BackupKey, error) {
	rows, err := q.db.Query(ctx, `SELECT backup_id, data_key_id, source_key_arn, key_arn, wrapped FROM backup_keys
WHERE backup_id = $1 ORDER BY data_key_id`, backupID)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r pgx.Row) (BackupKey, error) {
		var k BackupKey
		return k, r.Scan(&k.BackupID, &k.DataKeyID, &k.SourceKeyARN, &k.KeyARN, &k.Wrapped)
	})
}

// CopyBackupPage copies, inside the database, the next page of up to limit documents of a collection
// after seq into a backup, as they are stored; it answers how many it copied and the last seq.
func (q *Q) CopyBackupPage(ctx context.Context, backupID, orgID, collectionID string, after int64, limit int) (int, int64, error) {
	var n int
	var last int64
	err := q.db.QueryRow(ctx, `
WITH page AS (
    INSERT INTO backup_documents (backup_id, seq, doc_id, data_key_id, aad_version, nonce, ciphertext, created_at)
    SELECT $1, seq, id, data_key_id, aad_version, nonce, ciphertext, created_at FROM documents
    WHERE org_id = $2 AND collection_id = $3 AND seq > $4 ORDER BY collection_id, seq LIMIT $5
    RETURNING seq
)
SELECT count(*), coalesce(max(seq), 0) FROM page`, backupID, orgID, collectionID, after, limit).Scan(&n, &last)
	return n, last, translate(err)
}

// BackupDocuments reads the next page of a backup's documents after seq, in order: up to limit of
// them, and no more than maxBytes of ciphertext beyond the first (which is always read).
func (q *Q) BackupDocuments(ctx context.Context, backupID string, after int64, limit, maxBytes int) ([]BackupDocument, error) {
	rows, err := q.db.Query(ctx, `
SELECT seq, doc_id, data_key_id, aad_version, nonce, ciphertext, created_at FROM (
    SELECT *, sum(length(ciphertext)) OVER (ORDER BY seq) - length(ciphertext) AS before FROM backup_documents
    WHERE backup_id = $1 AND seq > $2 ORDER BY backup_id, seq LIMIT $3
) page WHERE before < $4 ORDER BY seq`, backupID, after, limit, maxBytes)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r pgx.Row) (BackupDocument, error) {
		var d BackupDocument
		err := r.Scan(&d.Seq, &d.DocID, &d.DataKeyID, &d.AADVersion, &d.Nonce, &d.Ciphertext, &d.CreatedAt)
		d.CreatedAt = d.CreatedAt.UTC()
		return d, err
	})
}

// BackupProgress records a running backup's progress and extends its lease, in a transaction of its
// own outside the copy's so that readers see it. It answers false when the backup is no longer
// running under owner's lease (the sweeper found the lease expired and failed it): the copy must
// stop. Progress is not worth a disk flush: its commit does not wait for one, and a crash that loses
// the last write of it loses nothing a reader relies on (the backup is failed then anyway).
func (s *Store) BackupProgress(ctx context.Context, id, owner string, documents int64, leaseUntil time.Time) (bool, error) {
	var held bool
	err := s.InTx(ctx, func(tx *Q) error {
		if _, err := tx.db.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return translate(err)
		}
		tag, err := tx.db.Exec(ctx, `
UPDATE backup_runs r SET documents = $3, lease_until = $4
FROM backups b WHERE r.backup_id = $1 AND r.lease_owner = $2 AND b.id = r.backup_id AND b.state = 'running'`,
			id, owner, documents, leaseUntil)
		held = tag.RowsAffected() == 1
		return translate(err)
	})
	return held, err
}

// FinishBackup moves a running backup to state (complete or failed) with its document count; it
// answers false when it was no longer running. Its finished_at is the clock's time now, not the
// transaction's stamp: the copy's transaction is stamped when its snapshot is taken, at the start.
func (q *Q) FinishBackup(ctx context.Context, id, state string, documents int64) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE backups SET state = $2, documents = $3, finished_at = $4 WHERE id = $1 AND state = 'running'`,
		id, state, documents, q.clock.Now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return false, translate(err)
	}
	return tag.RowsAffected() == 1, nil
}

// FailStaleBackups fails every running backup whose worker's lease ran out before now (its server
// died or lost the database) and answers them.
func (q *Q) FailStaleBackups(ctx context.Context, now time.Time) ([]domain.Backup, error) {
	rows, err := q.db.Query(ctx, `
UPDATE backups b SET state = 'failed', documents = r.documents, finished_at = $1
FROM backup_runs r
WHERE r.backup_id = b.id AND b.state = 'running' AND r.lease_until < $1
RETURNING b.id, b.org_id, b.collection_id, b.region, b.key_arn, b.key_purpose, b.state, b.documents, b.created_at, b.finished_at`, now)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, scanBackup)
}
