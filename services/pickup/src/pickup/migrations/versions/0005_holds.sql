-- upgrade
ALTER TABLE letters
    ADD COLUMN identity_holds jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN code_holds     jsonb NOT NULL DEFAULT '{}';

-- downgrade
ALTER TABLE letters DROP COLUMN identity_holds, DROP COLUMN code_holds;
