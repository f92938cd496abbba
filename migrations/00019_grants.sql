-- +goose Up
-- KMS grants of the data identity (SPEC §12): one per linked key while it is active. The table has
-- no foreign key to orgs on purpose: when an organisation is deleted, its delete transaction marks
-- its grants 'retiring', and the rows stay as the outbox of the retirement worker, which any replica
-- may claim (lease_owner, lease_until) and retries with backoff (attempts, next_attempt_at) until
-- KMS confirms; then they are 'retired'. A grant a failed verification could not retire at once is
-- queued the same way.
CREATE TABLE grants (
    grant_id          text PRIMARY KEY,
    org_id            text NOT NULL,
    region            text NOT NULL,
    purpose           text NOT NULL CHECK (purpose IN ('data', 'backup', '')),
    key_arn           text NOT NULL,
    name              text NOT NULL,
    grantee_principal text NOT NULL,
    operations        text[] NOT NULL,
    -- The token CreateGrant answered: every replica's data identity sends it with its calls on the
    -- key for a while (KMS makes a new grant visible everywhere only eventually). AWS documents grant
    -- tokens as not secret; they work for the grantee only.
    grant_token       text NOT NULL DEFAULT '',
    status            text NOT NULL CHECK (status IN ('active', 'retiring', 'retired')),
    created_at        timestamptz NOT NULL,
    retired_at        timestamptz,
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz,
    last_error        text NOT NULL DEFAULT '',
    lease_owner       text NOT NULL DEFAULT '',
    lease_until       timestamptz,
    -- false for a grant that was never on record as the organisation's (a failed verification's):
    -- its retirement is not an event of the organisation's trail.
    announced         boolean NOT NULL DEFAULT true
);
-- At most one active grant per linked key.
CREATE UNIQUE INDEX grants_active_link ON grants (org_id, region, purpose) WHERE status = 'active';
CREATE INDEX grants_org ON grants (org_id, created_at DESC);
CREATE INDEX grants_due ON grants (next_attempt_at) WHERE status = 'retiring';
CREATE INDEX grants_recent ON grants (created_at) WHERE status = 'active';

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM grants WHERE status <> 'retired') THEN
        RAISE EXCEPTION 'KMS grants are active or waiting for retirement: migrating below 19 would forget them';
    END IF;
END;
$$;
-- +goose StatementEnd
DROP TABLE grants;
