-- upgrade
-- Sign-ins under way: the state sent to the identity provider (kept as its SHA-256), with the
-- nonce and PKCE verifier the callback needs; each is taken once.
CREATE TABLE desk_sign_ins (
    state_hash    bytea PRIMARY KEY,
    nonce         text        NOT NULL,
    code_verifier text        NOT NULL,
    next_path     text        NOT NULL,
    started_at    timestamptz NOT NULL
);
CREATE INDEX desk_sign_ins_started ON desk_sign_ins (started_at);

-- Support staff's console sessions: the cookie's random id is kept only as its SHA-256.
CREATE TABLE desk_sessions (
    session_hash  bytea PRIMARY KEY,
    subject       text        NOT NULL,
    name          text        NOT NULL,
    roles         text[]      NOT NULL,
    csrf_token    text        NOT NULL,
    id_token      text        NOT NULL,
    signed_in_at  timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL
);
CREATE INDEX desk_sessions_ends ON desk_sessions (ends_at);

-- downgrade
DROP TABLE desk_sessions;
DROP TABLE desk_sign_ins;
