-- upgrade
-- One job a letter and kind of proof: a later request for the same proof (the envelope, as
-- the chain grows) moves `requested_at`, and the issuer renders the chain as it then stands.
CREATE TABLE proof_jobs (
    letter_id     uuid NOT NULL,
    kind          text NOT NULL,
    evidence_id   uuid NOT NULL,         -- the record the proof attests (the envelope: the last)
    requested_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    leased_until  timestamptz,           -- taken by an issuer until then (NULL: free)
    attempts      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (letter_id, kind)
);

CREATE INDEX proof_jobs_due ON proof_jobs (requested_at);

-- downgrade
DROP TABLE proof_jobs;
