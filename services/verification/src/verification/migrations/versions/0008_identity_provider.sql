-- upgrade
SELECT 1;

-- downgrade
SELECT 1;
