-- upgrade
ALTER TABLE letters
    ALTER COLUMN recipient_name DROP NOT NULL,
    ADD COLUMN recipient_forgotten_at timestamptz,
    ADD CONSTRAINT letters_recipient_named_until_forgotten
        CHECK (recipient_name IS NOT NULL OR recipient_forgotten_at IS NOT NULL);

-- The sweep looks for letters learnt long ago whose recipient is still kept.
CREATE INDEX letters_recipient_kept ON letters (known_at) WHERE recipient_forgotten_at IS NULL;

-- downgrade
DROP INDEX letters_recipient_kept;

ALTER TABLE letters DROP CONSTRAINT letters_recipient_named_until_forgotten;

UPDATE letters SET recipient_name = '' WHERE recipient_name IS NULL;

ALTER TABLE letters
    ALTER COLUMN recipient_name SET NOT NULL,
    DROP COLUMN recipient_forgotten_at;
