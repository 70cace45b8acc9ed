-- upgrade
ALTER TABLE letters
    ADD COLUMN first_notice_at    timestamptz,
    ADD COLUMN window_closes_at   timestamptz,
    ADD COLUMN accepted_at        timestamptz,
    ADD COLUMN handed_over_at     timestamptz,
    ADD COLUMN content_deleted_at timestamptz;

CREATE INDEX letters_content_kept ON letters (letter_id) WHERE content_deleted_at IS NULL;

-- downgrade
DROP INDEX letters_content_kept;

ALTER TABLE letters DROP COLUMN first_notice_at, DROP COLUMN window_closes_at, DROP COLUMN accepted_at, DROP COLUMN handed_over_at, DROP COLUMN content_deleted_at;
