-- upgrade
CREATE TABLE evidence (
    evidence_id       uuid PRIMARY KEY,
    letter_id         uuid NOT NULL,
    seq               integer NOT NULL,
    event             text NOT NULL,
    event_time        timestamptz NOT NULL,
    source_message_id uuid NOT NULL,
    record            bytea NOT NULL,  -- canonical JSON, byte for byte
    record_sha256     char(64) NOT NULL,
    previous_sha256   char(64),
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (letter_id, seq)
);

-- downgrade
DROP TABLE evidence;

DROP TABLE inbox;

DROP TABLE outbox;
