-- upgrade
CREATE TABLE api_key_failures (
    address   text PRIMARY KEY,            -- the client address (behind trusted proxies)
    opened_at timestamptz NOT NULL,        -- the window's first failure
    failures  integer NOT NULL CHECK (failures > 0)
);
CREATE INDEX api_key_failures_opened ON api_key_failures (opened_at);

-- downgrade
DROP TABLE api_key_failures;
