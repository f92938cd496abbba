-- +goose Up
-- Every replica asks every second which keys a probe found unavailable lately, to drop their data
-- keys from its cache (SPEC §16); this index answers that without reading the healthy keys.
CREATE INDEX key_health_unavailable ON key_health (last_probe_at) WHERE status = 'unavailable';

-- +goose Down
DROP INDEX key_health_unavailable;
