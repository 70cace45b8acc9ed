-- upgrade
ALTER TABLE letters
    ADD COLUMN content_expires_at timestamptz,
    ADD COLUMN refused_at         timestamptz;

CREATE INDEX letters_content_due ON letters (content_expires_at)
    WHERE content_deleted_at IS NULL AND content_expires_at IS NOT NULL;

-- downgrade
DROP INDEX letters_content_due;

ALTER TABLE letters DROP COLUMN content_expires_at, DROP COLUMN refused_at;
