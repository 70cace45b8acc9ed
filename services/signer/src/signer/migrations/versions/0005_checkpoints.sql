-- upgrade
CREATE TABLE letter_checkpoints (
    letter_id    uuid PRIMARY KEY,
    size         integer NOT NULL,     -- records in the chain, 1..size
    last_sha256  char(64) NOT NULL,    -- SHA-256 of record `size`
    statement    bytea NOT NULL,       -- canonical JSON, byte for byte
    seal         bytea,                -- RecordSeal over the statement (NULL: unsealed)
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Position of each record in the log (RFC 6962 leaf index), given when a tree head
-- takes it in: never by the inserting transaction, whose commit order is unknown.
ALTER TABLE evidence ADD COLUMN log_index bigint UNIQUE;

CREATE INDEX evidence_not_in_log ON evidence (recorded_at) WHERE log_index IS NULL;

CREATE TABLE log_tree_heads (
    tree_size    bigint PRIMARY KEY,
    root_sha256  char(64) NOT NULL,    -- RFC 6962 Merkle tree hash
    statement    bytea NOT NULL,       -- canonical JSON, byte for byte
    seal         bytea,                -- RecordSeal over the statement (NULL: unsealed)
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- downgrade
DROP TABLE log_tree_heads;

DROP TABLE letter_checkpoints;

DROP INDEX evidence_not_in_log;

ALTER TABLE evidence DROP COLUMN log_index;
