-- upgrade
CREATE TABLE letters (
    letter_id     uuid PRIMARY KEY,
    item_number   char(12) NOT NULL UNIQUE,  -- numéro de pli
    sender_id     text NOT NULL,
    deposited_at  timestamptz NOT NULL
);

CREATE TABLE documents (
    document_id   uuid PRIMARY KEY,
    letter_id     uuid NOT NULL REFERENCES letters,
    role          text NOT NULL CHECK (role IN ('main', 'attachment')),
    filename      text NOT NULL,
    size          bigint NOT NULL,
    sha256        char(64) NOT NULL,
    object_key    text NOT NULL,
    first_link_at timestamptz
);

CREATE INDEX documents_letter ON documents (letter_id);

-- downgrade
DROP TABLE documents;

DROP TABLE letters;

DROP TABLE inbox;

DROP TABLE outbox;
