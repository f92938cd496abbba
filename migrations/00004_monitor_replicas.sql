-- +goose Up
-- The health monitor's replicas, each beating here, so that the probe ceiling
-- (CMEKD_PROBE_MAX_RPS) is shared out across the fleet rather than granted to every replica.
CREATE TABLE monitor_replicas (
    owner   text PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE monitor_replicas;
