-- upgrade
CREATE TABLE webhook_endpoints (
    sender_id text PRIMARY KEY,
    url text NOT NULL,
    secret text NOT NULL,
    previous_secret text,
    previous_until timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE webhook_deliveries (
    sender_id text NOT NULL,
    event_id uuid NOT NULL,
    event text NOT NULL,
    letter_id uuid NOT NULL,
    body bytea NOT NULL,
    created_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_attempt_at timestamptz,
    last_status integer,
    last_error text,
    delivered_at timestamptz,
    failed_at timestamptz,
    PRIMARY KEY (sender_id, event_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;

CREATE INDEX webhook_deliveries_log ON webhook_deliveries (sender_id, created_at DESC);

-- downgrade
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
