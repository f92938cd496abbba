-- +goose Up
-- Every replica asks every second which keys a probe found unavailable lately, to drop their data
-- keys from its cache (SPEC §16); this index answers that without reading the healthy keys.
CREATE INDEX key_health_unavailable ON key_health (last_probe_at) WHERE status = 'unavailable';

-- Which authenticated data each sealed item was sealed with (keyring.AADv1, AADv2): since version 2
-- it binds the ARN of the KMS key that wraps its data key (SPEC §16). Rows sealed before are version 1
-- and still open; new rows always say which version they are.
ALTER TABLE documents ADD COLUMN aad_version smallint NOT NULL DEFAULT 1 CHECK (aad_version IN (1, 2));
ALTER TABLE documents ALTER COLUMN aad_version DROP DEFAULT;
ALTER TABLE secrets ADD COLUMN aad_version smallint NOT NULL DEFAULT 1 CHECK (aad_version IN (1, 2));
ALTER TABLE secrets ALTER COLUMN aad_version DROP DEFAULT;
ALTER TABLE webhooks ADD COLUMN secret_aad_version smallint NOT NULL DEFAULT 1 CHECK (secret_aad_version IN (1, 2));
ALTER TABLE webhooks ALTER COLUMN secret_aad_version DROP DEFAULT;

-- +goose Down
-- The code before this migration cannot open an item sealed as version 2, and dropping the column
-- would make version 2 rows look like version 1 ones for good: refuse rather than lose them.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM documents WHERE aad_version <> 1) OR EXISTS (SELECT 1 FROM secrets WHERE aad_version <> 1)
        OR EXISTS (SELECT 1 FROM webhooks WHERE secret_aad_version <> 1) THEN
        RAISE EXCEPTION 'items sealed with the key-bound authenticated data (aad_version 2) exist: migrating below 16 would make them unreadable';
    END IF;
END;
$$;
-- +goose StatementEnd
ALTER TABLE webhooks DROP COLUMN secret_aad_version;
ALTER TABLE secrets DROP COLUMN aad_version;
ALTER TABLE documents DROP COLUMN aad_version;
DROP INDEX key_health_unavailable;
