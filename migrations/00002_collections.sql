-- +goose Up
CREATE TABLE collections (
    id               text PRIMARY KEY,
    org_id           text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name             text NOT NULL,
    region           text NOT NULL,
    state            text NOT NULL CHECK (state IN ('active', 'ingest_halted', 'paused')),
    state_reason     text NOT NULL DEFAULT '',
    state_changed_at timestamptz NOT NULL,
    recoverable      boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL,
    CONSTRAINT collections_org_name_unique UNIQUE (org_id, name)
);
CREATE INDEX collections_org_region ON collections (org_id, region, state);
CREATE INDEX collections_org_created ON collections (org_id, created_at, id);

-- +goose Down
DROP TABLE collections;
