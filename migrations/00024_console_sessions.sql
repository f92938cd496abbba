-- Console sessions live in the database, so that signing out, or revoking the token behind a
-- session, ends it on every replica at once. A session names its token by id (none for the platform
-- operator's token from configuration); the token's secret stays sealed in the browser's cookie and
-- is never stored.
-- +goose Up
CREATE TABLE console_sessions (
    id         text PRIMARY KEY,
    token_id   text REFERENCES tokens (id) ON DELETE CASCADE,
    org_id     text REFERENCES orgs (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    CHECK ((token_id IS NULL) = (org_id IS NULL))
);
CREATE INDEX console_sessions_token ON console_sessions (token_id) WHERE token_id IS NOT NULL;
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
