-- upgrade
CREATE TABLE api_keys (
    key_id        uuid PRIMARY KEY,
    sender_id     text NOT NULL,
    prefix        text NOT NULL UNIQUE,       -- lre_<prefix>_…: not secret
    key_sha256    char(64) NOT NULL,          -- SHA-256 of the whole key
    label         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_sender ON api_keys (sender_id, created_at);

-- downgrade
DROP TABLE api_keys;
