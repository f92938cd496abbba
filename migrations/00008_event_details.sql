-- +goose Up
-- Events gain a details object for what their type concerns (SPEC §13): {"scope", "key", "version"}
-- for secrets, say. Never a secret.
ALTER TABLE events ADD COLUMN details jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object');

-- +goose Down
ALTER TABLE events DROP COLUMN details;
