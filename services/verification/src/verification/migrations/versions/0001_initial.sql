-- upgrade
CREATE TABLE letters (
    letter_id         uuid PRIMARY KEY,
    item_number       char(12) NOT NULL,
    policy            text NOT NULL CHECK (policy IN ('default', 'cnb')),
    recipient_name    text NOT NULL,
    recipient_company text,
    known_at          timestamptz NOT NULL DEFAULT now()
);

-- downgrade
DROP TABLE letters;

DROP TABLE inbox;

DROP TABLE outbox;
