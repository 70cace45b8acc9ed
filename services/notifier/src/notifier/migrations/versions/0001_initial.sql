-- upgrade
CREATE TABLE delivery_attempts (
    id                  bigserial PRIMARY KEY,
    notice_id           uuid NOT NULL,
    letter_id           uuid NOT NULL,
    channel             text NOT NULL,
    address             text NOT NULL,
    outcome             text NOT NULL CHECK (outcome IN ('sent', 'failed')),
    reason              text,
    provider_message_id text,
    attempted_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX delivery_attempts_letter ON delivery_attempts (letter_id);

-- downgrade
DROP TABLE delivery_attempts;

DROP TABLE inbox;

DROP TABLE outbox;
