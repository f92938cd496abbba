-- The time between a key's last two probes, in seconds: the probe interval the monitor achieves for
-- it, which key-status shows. NULL until the key's second probe. Written with the probe's result, in
-- the same row update, so it costs no write of its own.
-- +goose Up
ALTER TABLE key_health ADD COLUMN achieved_interval_s double precision;

-- +goose Down
ALTER TABLE key_health DROP COLUMN achieved_interval_s;
