-- Key events: an organisation's EventBridge delivery of its keys' KMS events. One row per
-- organisation that turned them on; the api key is kept only as a keyed hash (HMAC under a secret
-- the database does not hold). The counters and the last event feed GET …/key-events and the probe
-- schedule (organisations with fresh events are probed less often).
-- +goose Up
CREATE TABLE key_event_sources (
    org_id          text PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    api_key_hash    bytea NOT NULL CHECK (length(api_key_hash) = 32),
    events_received bigint NOT NULL DEFAULT 0,
    events_matched  bigint NOT NULL DEFAULT 0,
    last_event_at   timestamptz,
    last_event_name text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL
);

-- +goose Down
DROP TABLE key_event_sources;
