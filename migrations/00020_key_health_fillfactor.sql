-- +goose Up
-- The monitor writes every key_health row twice a sweep: its claim (the lease columns) and its result.
-- Room left on each page lets the claim, which changes no indexed column, be a heap-only update: no
-- new index entries, and the page pruned in place. Rows written before this take the setting when
-- their table is next rewritten (VACUUM FULL); new and updated rows take it as they are placed.
ALTER TABLE key_health SET (fillfactor = 50);

-- +goose Down
ALTER TABLE key_health RESET (fillfactor);
