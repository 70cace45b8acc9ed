-- upgrade
ALTER TABLE letters
    ADD COLUMN language text NOT NULL DEFAULT 'fr' CHECK (language IN ('fr', 'en'));

ALTER TABLE verification_cases
    ADD COLUMN required_documents  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN code_failure        text,
    ADD COLUMN code_failed_channel text,
    ADD COLUMN code_failed_at      timestamptz;

-- downgrade
ALTER TABLE verification_cases DROP COLUMN required_documents, DROP COLUMN code_failure,
    DROP COLUMN code_failed_channel, DROP COLUMN code_failed_at;

ALTER TABLE letters DROP COLUMN language;
