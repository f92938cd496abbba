-- +goose Up
-- Workspaces (SPEC §13): principals that materialization jobs act as. A workspace token has the role
-- 'workspace' and belongs to one workspace; deleting the workspace deletes its tokens.
CREATE TABLE workspaces (
    id         text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT workspaces_org_name_unique UNIQUE (org_id, name)
);
CREATE INDEX workspaces_org_created ON workspaces (org_id, created_at, id);

ALTER TABLE tokens DROP CONSTRAINT tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check CHECK (role IN ('owner', 'operator', 'member', 'workspace'));
ALTER TABLE tokens ADD COLUMN workspace_id text REFERENCES workspaces (id) ON DELETE CASCADE;
ALTER TABLE tokens ADD CONSTRAINT tokens_workspace_check CHECK ((role = 'workspace') = (workspace_id IS NOT NULL));

-- +goose Down
DELETE FROM tokens WHERE role = 'workspace';
ALTER TABLE tokens DROP CONSTRAINT tokens_workspace_check;
ALTER TABLE tokens DROP COLUMN workspace_id;
ALTER TABLE tokens DROP CONSTRAINT tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check CHECK (role IN ('owner', 'operator', 'member'));
DROP TABLE workspaces;
