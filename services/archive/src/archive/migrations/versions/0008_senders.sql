-- upgrade
CREATE TABLE senders (
    sender_id        text PRIMARY KEY CHECK (sender_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name             text NOT NULL DEFAULT '',
    added_at         timestamptz NOT NULL,
    password_set_at  timestamptz NOT NULL,
    removed_at       timestamptz
);

-- downgrade
DROP TABLE senders;
