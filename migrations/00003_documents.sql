-- +goose Up
-- Data keys (DEKs) of a collection, only ever stored wrapped by KMS under the organisation's key (or
-- the platform's provider key); the plaintext lives in process memory only.
CREATE TABLE data_keys (
    id            text PRIMARY KEY,
    org_id        text NOT NULL,
    collection_id text NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    key_arn       text NOT NULL,
    wrapped       bytea NOT NULL,
    documents     integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL
);
CREATE INDEX data_keys_collection ON data_keys (collection_id, created_at DESC);

-- Documents as AES-256-GCM ciphertext bound to their org, collection and document ids.
CREATE TABLE documents (
    seq           bigserial NOT NULL,
    id            text PRIMARY KEY,
    org_id        text NOT NULL,
    collection_id text NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    data_key_id   text NOT NULL REFERENCES data_keys (id) ON DELETE CASCADE,
    nonce         bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext    bytea NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX documents_collection ON documents (collection_id, seq);

-- +goose Down
DROP TABLE documents;
DROP TABLE data_keys;
