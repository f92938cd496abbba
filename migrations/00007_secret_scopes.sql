-- +goose Up
-- Secret scopes (SPEC §13): an organisation's groups of secrets, with access given per scope.
CREATE TABLE secret_scopes (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name       text NOT NULL,
    -- The creating token's id, or 'admin'.
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT secret_scopes_org_name_unique UNIQUE (org_id, name)
);
CREATE INDEX secret_scopes_org_created ON secret_scopes (org_id, created_at, id);

-- Role assignments on a scope. principal is what the API names: a token id ('tok_…'), 'admin', or
-- 'workspace:<name>' (then workspace_id names the workspace, whose deletion removes the assignment,
-- and the role can only be reader).
CREATE TABLE secret_scope_roles (
    scope_id     text NOT NULL REFERENCES secret_scopes (id) ON DELETE CASCADE,
    principal    text NOT NULL,
    workspace_id text REFERENCES workspaces (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('manager', 'writer', 'reader')),
    PRIMARY KEY (scope_id, principal),
    CHECK (workspace_id IS NULL OR role = 'reader')
);

-- Secrets: the current version of each key, as AES-256-GCM ciphertext under a data key of the scope
-- (keyring purpose 'secrets'), bound to org, scope, key and version. Never a plaintext value.
CREATE TABLE secrets (
    -- The key's position in its scope, for a stable list order; a new version keeps it.
    seq         bigserial NOT NULL UNIQUE,
    scope_id    text NOT NULL REFERENCES secret_scopes (id) ON DELETE CASCADE,
    key         text NOT NULL CHECK (key ~ '^[A-Za-z0-9_.-]{1,128}$'),
    org_id      text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    version     integer NOT NULL CHECK (version > 0),
    data_key_id text NOT NULL REFERENCES data_keys (id) ON DELETE CASCADE,
    nonce       bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext  bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (scope_id, key)
);

-- +goose Down
DROP TABLE secrets;
DROP TABLE secret_scope_roles;
DROP TABLE secret_scopes;
DELETE FROM data_keys WHERE purpose = 'secrets';
