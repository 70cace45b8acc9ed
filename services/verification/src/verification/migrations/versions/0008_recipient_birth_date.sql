-- upgrade
ALTER TABLE letters ADD COLUMN recipient_birth_date date;

-- downgrade
ALTER TABLE letters DROP COLUMN recipient_birth_date;
