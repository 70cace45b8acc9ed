-- upgrade
ALTER TABLE letters
    ADD COLUMN idempotency_key   text,
    ADD COLUMN submission_sha256 char(64),
    ADD COLUMN deposited_event   bytea;

CREATE UNIQUE INDEX letters_idempotency ON letters (sender_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- downgrade
DROP INDEX letters_idempotency;

ALTER TABLE letters DROP COLUMN idempotency_key, DROP COLUMN submission_sha256, DROP COLUMN deposited_event;
