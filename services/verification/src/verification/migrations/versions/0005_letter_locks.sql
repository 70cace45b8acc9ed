-- upgrade
ALTER TABLE letters
    ADD COLUMN codes_locked_until timestamptz,
    ADD COLUMN codes_lock_changed_at timestamptz;

-- of the latest lock event applied

CREATE TABLE letter_events (
    event_id    bigserial PRIMARY KEY,
    letter_id   uuid NOT NULL REFERENCES letters (letter_id),
    item_number char(12) NOT NULL,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX letter_events_by_letter ON letter_events (letter_id, event_id);

CREATE TRIGGER letter_events_append_only BEFORE UPDATE OR DELETE ON letter_events FOR EACH ROW EXECUTE FUNCTION case_events_append_only();

-- downgrade
DROP TABLE letter_events;

ALTER TABLE letters DROP COLUMN codes_locked_until, DROP COLUMN codes_lock_changed_at;
