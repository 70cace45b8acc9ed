-- upgrade
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_outcome_check;

ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_outcome_check
    CHECK (outcome IN ('sent', 'failed', 'deferred', 'delivered'));

ALTER TABLE delivery_attempts ADD COLUMN kind text NOT NULL DEFAULT 'notice';

CREATE INDEX delivery_attempts_notice ON delivery_attempts (notice_id);

CREATE INDEX delivery_attempts_provider ON delivery_attempts (provider_message_id);

CREATE TABLE reminders (
    letter_id     uuid PRIMARY KEY,
    item_number   text NOT NULL,
    address       text NOT NULL,
    language      text NOT NULL,
    deadline      date NOT NULL,
    next_at       timestamptz,
    opt_out_token text NOT NULL UNIQUE,
    stopped       text
);

CREATE INDEX reminders_due ON reminders (next_at) WHERE stopped IS NULL;

-- downgrade
DROP TABLE reminders;

DROP INDEX delivery_attempts_notice;

DROP INDEX delivery_attempts_provider;

ALTER TABLE delivery_attempts DROP COLUMN kind;
