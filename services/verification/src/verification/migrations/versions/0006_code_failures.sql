-- upgrade
ALTER TABLE codes
    ADD COLUMN send_failed_at timestamptz,
    ADD COLUMN send_failure   text;

-- downgrade
ALTER TABLE codes DROP COLUMN send_failed_at, DROP COLUMN send_failure;
