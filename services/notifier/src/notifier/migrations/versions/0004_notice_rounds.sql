-- upgrade
CREATE TABLE notice_channels (
    round_id   uuid NOT NULL,
    channel    text NOT NULL,
    notice_id  uuid NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (round_id, channel)
);

CREATE TABLE notices (
    notice_id uuid PRIMARY KEY,
    letter_id uuid NOT NULL,
    command   jsonb NOT NULL
);

ALTER TABLE reminders ADD COLUMN channels text[] NOT NULL DEFAULT '{email}';

ALTER TABLE reminders ADD COLUMN phone text;

ALTER TABLE reminders ADD COLUMN landline text;

ALTER TABLE reminders ADD COLUMN fax text;

DELETE FROM delivery_attempts a USING delivery_attempts b
    WHERE a.outcome = 'failed' AND b.outcome = 'failed' AND a.id > b.id
    AND a.provider_message_id = b.provider_message_id AND a.provider_message_id <> '';

CREATE UNIQUE INDEX delivery_attempts_provider_failure ON delivery_attempts (provider_message_id)
    WHERE outcome = 'failed' AND provider_message_id <> '';

-- downgrade
DROP INDEX delivery_attempts_provider_failure;

ALTER TABLE reminders DROP COLUMN fax;

ALTER TABLE reminders DROP COLUMN landline;

ALTER TABLE reminders DROP COLUMN phone;

ALTER TABLE reminders DROP COLUMN channels;

DROP TABLE notices;

DROP TABLE notice_channels;
