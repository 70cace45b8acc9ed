-- upgrade
CREATE TABLE site_sessions (
    session_id text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX site_sessions_seen ON site_sessions (seen_at);

-- downgrade
DROP TABLE site_sessions;
