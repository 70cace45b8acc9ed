-- upgrade
-- A sign-in at the recipients' identity provider under way: what the callback checks (state,
-- nonce, PKCE verifier), for which session and letter. Single use, kept minutes.
CREATE TABLE identity_requests (
    state         text PRIMARY KEY,
    session_id    text NOT NULL,
    letter_id     uuid NOT NULL REFERENCES letters (letter_id) ON DELETE CASCADE,
    nonce         text NOT NULL,
    code_verifier text NOT NULL,
    purpose       text NOT NULL CHECK (purpose IN ('signature', 'code')),
    code_channel  text NOT NULL CHECK (code_channel IN ('email', 'sms')),
    started_at    timestamptz NOT NULL
);

CREATE INDEX identity_requests_started ON identity_requests (started_at);

-- The AR signed with the identity provider's identification (SignatureMethod.identity_provider).
ALTER TABLE letters DROP CONSTRAINT letters_signature_method_check;
ALTER TABLE letters ADD CONSTRAINT letters_signature_method_check
    CHECK (signature_method IN ('certificate', 'one_time_code', 'identity_provider'));

-- downgrade
DROP TABLE identity_requests;
UPDATE letters SET signature_method = 'one_time_code' WHERE signature_method = 'identity_provider';
ALTER TABLE letters DROP CONSTRAINT letters_signature_method_check;
ALTER TABLE letters ADD CONSTRAINT letters_signature_method_check
    CHECK (signature_method IN ('certificate', 'one_time_code'));
