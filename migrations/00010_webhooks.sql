-- +goose Up
-- Webhooks (SPEC §14). An endpoint reads its organisation's audit trail after its cursor: every event
-- with events.seq > cursor_seq is yet to be considered for it. The dispatcher claims an endpoint with
-- a lease (lease_owner, lease_until), so one replica at a time delivers its events, in order.
CREATE TABLE webhooks (
    id            text PRIMARY KEY,
    org_id        text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    url           text NOT NULL,
    events        text[] NOT NULL CHECK (cardinality(events) > 0),
    status        text NOT NULL CHECK (status IN ('active', 'disabled')),
    -- The signing secret, sealed by the keyring under the platform's own key (never the customer's:
    -- the deliveries that matter most are sent when the customer's key has failed).
    secret_key_id text NOT NULL,
    secret_nonce  bytea NOT NULL,
    secret_sealed bytea NOT NULL,
    cursor_seq    bigint NOT NULL,
    -- The head event's failed attempts so far and when the first of them failed (the 24 h window).
    attempts      integer NOT NULL DEFAULT 0,
    failing_since timestamptz,
    next_attempt_at timestamptz NOT NULL,
    lease_owner   text NOT NULL DEFAULT '',
    lease_until   timestamptz,
    created_at    timestamptz NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at, id);
CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE status = 'active';

-- Every delivery attempt, for GET …/webhooks/{wh}/deliveries.
CREATE TABLE webhook_deliveries (
    seq         bigserial PRIMARY KEY,
    id          text NOT NULL UNIQUE,
    webhook_id  text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id    text NOT NULL,
    type        text NOT NULL,
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL,
    status_code integer NOT NULL,
    latency_ms  bigint NOT NULL,
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq DESC);

-- webhook.test and webhook.disabled name their endpoint.
ALTER TABLE events ADD COLUMN webhook_id text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE events DROP COLUMN webhook_id;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
