-- +goose Up
-- Backups of a collection (SPEC §11). A backup outlives its collection (no foreign key to it) and goes
-- with its organisation. It holds the collection's documents as they were stored (ciphertext only)
-- and its own copies of their data keys, re-wrapped by KMS ReEncrypt under the region's backup key
-- (or its data key when there is none), so that reading a backup never needs the collection's rows.
CREATE TABLE backups (
    id            text PRIMARY KEY,
    org_id        text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    -- The collection the backup was taken of: its documents' authenticated data names it.
    collection_id text NOT NULL,
    region        text NOT NULL,
    -- The KMS key that wraps the backup's data keys, and the purpose of its link (backup, or data
    -- when the region has no backup key).
    key_arn       text NOT NULL,
    key_purpose   text NOT NULL CHECK (key_purpose IN ('data', 'backup')),
    state         text NOT NULL CHECK (state IN ('running', 'complete', 'failed')),
    -- The documents of a finished backup; a running one's progress is in backup_runs.
    documents     bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    finished_at   timestamptz
);
CREATE INDEX backups_org ON backups (org_id, created_at DESC, id DESC);

-- The copy of a running backup: its progress and its worker's lease. It is a row of its own because
-- the copy runs in one REPEATABLE READ transaction that finally marks the backups row complete, and
-- progress written to that row from outside would make that update a serialization failure.
CREATE TABLE backup_runs (
    backup_id   text PRIMARY KEY REFERENCES backups (id) ON DELETE CASCADE,
    documents   bigint NOT NULL DEFAULT 0,
    lease_owner text NOT NULL,
    lease_until timestamptz NOT NULL
);
CREATE INDEX backup_runs_lease ON backup_runs (lease_until);

-- A backup's own wrapped copies of the data keys its documents were sealed under: wrapped_keys go
-- with the collection's data keys, these with the backup.
CREATE TABLE backup_keys (
    backup_id      text NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
    data_key_id    text NOT NULL,
    -- The key that wrapped the data key when the documents were sealed: AAD version 2 binds it.
    source_key_arn text NOT NULL,
    -- The key that wraps this copy (the backup's key_arn), with context {cmekd:org, cmekd:backup}.
    key_arn        text NOT NULL,
    wrapped        bytea NOT NULL,
    PRIMARY KEY (backup_id, data_key_id)
);

-- A backup's documents, copied as they were stored: ciphertext, with what rebuilds their
-- authenticated data (document id, data key, AAD version). seq keeps the collection's order.
-- They go with their backup by a trigger rather than a foreign key: a foreign key checks every row
-- as a large backup is copied, which makes the copy about four times as slow, while only cmekd's
-- copy inserts rows, into the backup it has just made, in its own transaction.
CREATE TABLE backup_documents (
    backup_id   text NOT NULL,
    seq         bigint NOT NULL,
    doc_id      text NOT NULL,
    data_key_id text NOT NULL,
    aad_version smallint NOT NULL CHECK (aad_version IN (1, 2)),
    nonce       bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext  bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (backup_id, seq)
);

-- +goose StatementBegin
CREATE FUNCTION backups_delete_documents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM backup_documents WHERE backup_id = OLD.id;
    RETURN OLD;
END;
$$;
-- +goose StatementEnd
-- Also when the backup goes with its organisation (ON DELETE CASCADE runs row triggers).
CREATE TRIGGER backups_delete_documents AFTER DELETE ON backups FOR EACH ROW EXECUTE FUNCTION backups_delete_documents();

-- +goose Down
DROP TRIGGER backups_delete_documents ON backups;
DROP FUNCTION backups_delete_documents();
DROP TABLE backup_documents;
DROP TABLE backup_keys;
DROP TABLE backup_runs;
DROP TABLE backups;
