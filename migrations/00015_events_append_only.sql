-- +goose Up
-- The audit trail is append-only (SPEC §16): the database itself refuses to change or remove an event,
-- whoever asks. The admin's GET /v1/events reads every organisation's trail, deleted ones included,
-- in seq order.
-- +goose StatementBegin
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % of event % refused', TG_OP, OLD.id
        USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'events_append_only';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE INDEX events_type ON events (type, seq DESC);

-- +goose Down
DROP INDEX events_type;
DROP TRIGGER events_append_only ON events;
DROP FUNCTION events_refuse_change;
