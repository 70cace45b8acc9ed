-- upgrade
ALTER TABLE letters
    ADD COLUMN signature_methods text[] NOT NULL DEFAULT '{certificate,one_time_code}',
    ADD COLUMN signed_at         timestamptz,   -- AR signed: downloads open
    ADD COLUMN signature_method  text CHECK (signature_method IN ('certificate', 'one_time_code')),
    ADD COLUMN signer_name       text,
    ADD COLUMN receipt_sha256    text,
    ADD COLUMN code_failures     integer NOT NULL DEFAULT 0,
    ADD COLUMN unclaimed_at      timestamptz;

-- non réclamée since (CPCE R.53-3)
CREATE INDEX letters_awaiting ON letters (deadline) WHERE state = 'awaiting';

-- The one-time-code path as the verification desk tells it (VerificationDecided).
CREATE TABLE verification_cases (
    letter_id          uuid PRIMARY KEY REFERENCES letters (letter_id),
    case_id            uuid NOT NULL UNIQUE,
    reference          text,
    state              text NOT NULL,
    reason             text,
    document_channel   text NOT NULL,
    code_channel       text NOT NULL,
    inbound_email      text,
    inbound_mms        text,
    inbound_fax        text,
    max_document_bytes integer,
    documents_sent     integer NOT NULL DEFAULT 0,
    decided_at         timestamptz,  -- of the desk's latest decision applied
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Wrong answers per client address, by kind (item number, identity, code), in a
-- sliding window: past the limit the address is locked until `locked_until`.
CREATE TABLE address_failures (
    kind         text NOT NULL,
    address      text NOT NULL,
    failures     integer NOT NULL,
    window_start timestamptz NOT NULL,
    locked_until timestamptz,
    PRIMARY KEY (kind, address)
);

-- downgrade
DROP TABLE address_failures;

DROP TABLE verification_cases;

DROP INDEX letters_awaiting;

ALTER TABLE letters
    DROP COLUMN signature_methods, DROP COLUMN signed_at, DROP COLUMN signature_method,
    DROP COLUMN signer_name, DROP COLUMN receipt_sha256, DROP COLUMN code_failures,
    DROP COLUMN unclaimed_at;
