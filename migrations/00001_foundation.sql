-- +goose Up
CREATE TABLE orgs (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    region          text NOT NULL,
    encryption_mode text NOT NULL CHECK (encryption_mode IN ('customer_managed', 'provider_managed')),
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX orgs_name_unique ON orgs (lower(name));

-- One row per organisation, region and purpose: the home region's data key now; replica regions and a
-- backup key later. A row is linked for good: the trigger below refuses every UPDATE.
CREATE TABLE key_links (
    org_id     text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    region     text NOT NULL,
    purpose    text NOT NULL CHECK (purpose IN ('data', 'backup')),
    key_arn    text NOT NULL CHECK (key_arn LIKE 'arn:%:kms:%:key/%'),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, region, purpose)
);

-- +goose StatementBegin
CREATE FUNCTION key_links_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'key link of organisation % in % is immutable', OLD.org_id, OLD.region
        USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'key_links_immutable';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER key_links_immutable BEFORE UPDATE ON key_links
    FOR EACH ROW EXECUTE FUNCTION key_links_refuse_update();

-- The health of each linked data key, per organisation and region (SPEC §7). The monitor claims due rows
-- with a lease (lease_owner, lease_until), so any number of replicas share the work.
CREATE TABLE key_health (
    org_id             text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    region             text NOT NULL,
    status             text NOT NULL CHECK (status IN ('healthy', 'unavailable', 'unknown')),
    last_probe_at      timestamptz,
    last_ok_at         timestamptz,
    unavailable_since  timestamptz,
    last_error_code    text NOT NULL DEFAULT '',
    last_error_action  text NOT NULL DEFAULT '',
    last_error_message text NOT NULL DEFAULT '',
    next_probe_at      timestamptz NOT NULL,
    lease_owner        text NOT NULL DEFAULT '',
    lease_until        timestamptz,
    PRIMARY KEY (org_id, region)
);
CREATE INDEX key_health_due ON key_health (next_probe_at);

CREATE TABLE tokens (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name       text NOT NULL,
    role       text NOT NULL CHECK (role IN ('owner', 'operator', 'member')),
    -- SHA-256 of the secret: tokens carry 256 random bits, so a fast hash is enough and the secret is
    -- never stored.
    secret_hash bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX tokens_org ON tokens (org_id, created_at, id);

-- The audit trail outlives its organisation (org.deleted stays on record), so no foreign key.
CREATE TABLE events (
    seq           bigserial PRIMARY KEY,
    id            text NOT NULL UNIQUE,
    org_id        text NOT NULL,
    type          text NOT NULL,
    at            timestamptz NOT NULL,
    actor         text NOT NULL DEFAULT '',
    region        text NOT NULL DEFAULT '',
    collection_id text NOT NULL DEFAULT '',
    from_state    text NOT NULL DEFAULT '',
    to_state      text NOT NULL DEFAULT '',
    reason        text NOT NULL DEFAULT ''
);
CREATE INDEX events_org ON events (org_id, seq DESC);
CREATE INDEX events_org_type ON events (org_id, type, seq DESC);

-- Answers replayed for a retried request with the same Idempotency-Key (SPEC §1), kept 24 hours.
CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       integer NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE events;
DROP TABLE tokens;
DROP TABLE key_health;
DROP TABLE key_links;
DROP FUNCTION key_links_refuse_update;
DROP TABLE orgs;
