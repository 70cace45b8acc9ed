-- upgrade
CREATE TABLE uploads (
    upload_id     uuid PRIMARY KEY,
    sender_id     text NOT NULL,
    filename      text NOT NULL,
    object_key    text NOT NULL,
    granted_at    timestamptz NOT NULL,
    url_expires_at timestamptz NOT NULL,
    usable_until  timestamptz NOT NULL,
    letter_id     uuid,          -- the deposit that took it
    size          bigint,
    sha256        char(64),
    consumed_at   timestamptz,
    cleaned_at    timestamptz    -- its object deleted (taken, or never deposited)
);

CREATE INDEX uploads_to_clean ON uploads (usable_until) WHERE cleaned_at IS NULL;

CREATE TABLE envelopes (
    letter_id   uuid PRIMARY KEY REFERENCES letters,
    filename    text NOT NULL,
    size        bigint NOT NULL,
    sha256      char(64) NOT NULL,
    object_key  text NOT NULL,
    issued_at   timestamptz NOT NULL
);

CREATE TABLE rejections (
    message_id      uuid PRIMARY KEY,
    letter_id       uuid NOT NULL,
    sender_id       text NOT NULL,
    idempotency_key text,
    problems        jsonb NOT NULL,
    rejected_at     timestamptz NOT NULL
);

CREATE INDEX rejections_letter ON rejections (letter_id, rejected_at);

CREATE INDEX rejections_key ON rejections (sender_id, idempotency_key, rejected_at)
    WHERE idempotency_key IS NOT NULL;

ALTER TABLE letters
    ADD COLUMN receipt_signed_at timestamptz,
    ADD COLUMN unclaimed_at      timestamptz;

-- downgrade
DROP TABLE uploads;

DROP TABLE envelopes;

DROP TABLE rejections;

ALTER TABLE letters DROP COLUMN receipt_signed_at, DROP COLUMN unclaimed_at;
