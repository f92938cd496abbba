-- An Idempotency-Key now keeps the result of the request (the organisation made, the documents'
-- ids), which the API renders again on a replay, rather than the HTTP answer: the status goes.
-- Stored organisation answers were kept in the old shape; they are dropped (they live 24 hours).
-- +goose Up
DELETE FROM idempotency_keys WHERE scope LIKE 'orgs|%';
ALTER TABLE idempotency_keys DROP COLUMN status;

-- +goose Down
ALTER TABLE idempotency_keys ADD COLUMN status integer NOT NULL DEFAULT 201;
