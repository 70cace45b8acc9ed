-- upgrade
ALTER TABLE uploads ADD COLUMN declared_sha256 char(64);

-- downgrade
ALTER TABLE uploads DROP COLUMN declared_sha256;
