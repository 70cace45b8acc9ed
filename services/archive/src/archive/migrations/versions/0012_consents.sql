-- upgrade
CREATE TABLE consents (
    position               bigserial UNIQUE NOT NULL,  -- order of the history
    consent_id             uuid PRIMARY KEY,
    sender_id              text NOT NULL,
    email                  text NOT NULL,       -- as the sender gave it
    email_key              text NOT NULL,       -- NFKC, case-folded: what deposits match
    given_at               timestamptz NOT NULL,
    channel                text NOT NULL,
    consent_text           text NOT NULL,       -- the exact text agreed to
    text_sha256            char(64) NOT NULL,
    reference              text,
    recorded_at            timestamptz NOT NULL,
    withdrawn_at           timestamptz,
    withdrawal_channel     text,
    withdrawal_recorded_at timestamptz,
    CHECK ((withdrawn_at IS NULL) = (withdrawal_channel IS NULL)),
    CHECK ((withdrawn_at IS NULL) = (withdrawal_recorded_at IS NULL))
);
CREATE INDEX consents_history ON consents (sender_id, email_key, position);

CREATE FUNCTION consents_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the consent registry is append-only: no entry is deleted';
    END IF;
    IF OLD.withdrawn_at IS NOT NULL
       OR (NEW.position, NEW.consent_id, NEW.sender_id, NEW.email, NEW.email_key,
           NEW.given_at, NEW.channel, NEW.consent_text, NEW.text_sha256, NEW.reference,
           NEW.recorded_at)
          IS DISTINCT FROM
          (OLD.position, OLD.consent_id, OLD.sender_id, OLD.email, OLD.email_key,
           OLD.given_at, OLD.channel, OLD.consent_text, OLD.text_sha256, OLD.reference,
           OLD.recorded_at) THEN
        RAISE EXCEPTION 'the consent registry is append-only: only a withdrawal is added, once';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION consents_append_only();

-- downgrade
DROP TABLE consents;
DROP FUNCTION consents_append_only();
