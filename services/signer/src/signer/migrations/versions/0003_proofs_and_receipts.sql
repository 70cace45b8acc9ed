-- upgrade
CREATE TABLE proofs (
    letter_id    uuid NOT NULL,
    kind         text NOT NULL,          -- deposit, receipt, refusal, non_claim
    evidence_id  uuid NOT NULL REFERENCES evidence (evidence_id),
    filename     text NOT NULL,
    pdf          bytea NOT NULL,         -- sealed PAdES B-LT (B-LTA by option)
    sha256       char(64) NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    archived_at  timestamptz,            -- in the evidence bucket since
    PRIMARY KEY (letter_id, kind)
);

CREATE INDEX proofs_to_archive ON proofs (created_at) WHERE archived_at IS NULL;

CREATE TABLE receipt_forms (
    letter_id          uuid PRIMARY KEY,
    filename           text NOT NULL,
    pdf                bytea NOT NULL,   -- the AR as issued: a signed AR must hold these bytes
    sha256             char(64) NOT NULL,
    recipient          jsonb NOT NULL,   -- first_name, last_name, email, as the sender declared
    issued_at          timestamptz NOT NULL DEFAULT now(),
    signed_pdf         bytea,            -- the signed AR, once checked and accepted
    signed_by          text,
    signed_accepted_at timestamptz
);

-- downgrade
DROP TABLE receipt_forms;

DROP TABLE proofs;
