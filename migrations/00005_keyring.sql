-- +goose Up
-- The keyring (SPEC §8): a data key belongs to an owner of one purpose (the documents of a collection
-- now; secrets of a scope, backups later), and its wrapped copies live apart, one per KMS key that
-- wraps it, so that a backup key or a replica region's key can wrap the same data key.
CREATE TABLE wrapped_keys (
    data_key_id text NOT NULL REFERENCES data_keys (id) ON DELETE CASCADE,
    key_arn     text NOT NULL,
    wrapped     bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (data_key_id, key_arn)
);
INSERT INTO wrapped_keys (data_key_id, key_arn, wrapped, created_at)
SELECT id, key_arn, wrapped, created_at FROM data_keys;

ALTER TABLE data_keys DROP CONSTRAINT data_keys_collection_id_fkey;
ALTER TABLE data_keys RENAME COLUMN collection_id TO owner_id;
ALTER TABLE data_keys RENAME COLUMN documents TO uses;
ALTER TABLE data_keys ADD COLUMN purpose text NOT NULL DEFAULT 'documents' CHECK (purpose <> '');
ALTER TABLE data_keys ALTER COLUMN purpose DROP DEFAULT;
ALTER TABLE data_keys DROP COLUMN key_arn, DROP COLUMN wrapped;
-- A data key goes with its organisation (crypto-shredding); its owner's service deletes it with the
-- owner (a collection's delete deletes its data keys in the same transaction).
ALTER TABLE data_keys ADD CONSTRAINT data_keys_org_fkey FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE;
DROP INDEX data_keys_collection;
CREATE INDEX data_keys_owner ON data_keys (purpose, owner_id, created_at DESC);

-- +goose Down
DROP INDEX data_keys_owner;
ALTER TABLE data_keys DROP CONSTRAINT data_keys_org_fkey;
ALTER TABLE data_keys ADD COLUMN key_arn text, ADD COLUMN wrapped bytea;
UPDATE data_keys k SET key_arn = w.key_arn, wrapped = w.wrapped
FROM (SELECT DISTINCT ON (data_key_id) data_key_id, key_arn, wrapped FROM wrapped_keys ORDER BY data_key_id, created_at) w
WHERE w.data_key_id = k.id;
DELETE FROM data_keys WHERE purpose <> 'documents' OR key_arn IS NULL;
ALTER TABLE data_keys ALTER COLUMN key_arn SET NOT NULL, ALTER COLUMN wrapped SET NOT NULL;
ALTER TABLE data_keys DROP COLUMN purpose;
ALTER TABLE data_keys RENAME COLUMN uses TO documents;
ALTER TABLE data_keys RENAME COLUMN owner_id TO collection_id;
ALTER TABLE data_keys ADD CONSTRAINT data_keys_collection_id_fkey FOREIGN KEY (collection_id) REFERENCES collections (id) ON DELETE CASCADE;
CREATE INDEX data_keys_collection ON data_keys (collection_id, created_at DESC);
DROP TABLE wrapped_keys;
