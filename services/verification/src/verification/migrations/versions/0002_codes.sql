-- upgrade
CREATE TABLE codes (
    code_id        uuid PRIMARY KEY,
    letter_id      uuid NOT NULL,
    case_id        uuid NOT NULL,
    item_number    char(12) NOT NULL,
    channel        text NOT NULL CHECK (channel IN ('email', 'sms')),
    address        text NOT NULL,      -- where the recipient chose to receive codes
    language       text NOT NULL CHECK (language IN ('fr', 'en')),
    code_hmac      bytea NOT NULL,     -- HMAC-SHA256(key, letter_id | code_id | code)
    issued_at      timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    tries          integer NOT NULL DEFAULT 0,  -- wrong tries so far
    used_at        timestamptz,        -- spent by a right check (single use)
    invalidated_at timestamptz,        -- too many wrong tries, or replaced by a newer code
    CHECK (expires_at > issued_at),
    CHECK (tries >= 0)
);

CREATE INDEX codes_by_letter ON codes (letter_id, issued_at DESC);

CREATE UNIQUE INDEX codes_one_live_per_letter ON codes (letter_id)
    WHERE used_at IS NULL AND invalidated_at IS NULL;

CREATE FUNCTION outbox_forget_sent_code() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.body := convert_to((convert_from(NEW.body, 'UTF8')::jsonb - 'code')::text, 'UTF8');
    RETURN NEW;
END
$$;

CREATE TRIGGER outbox_forget_sent_code BEFORE UPDATE OF published_at ON outbox FOR EACH ROW
    WHEN (NEW.routing_key = 'send_code.v1'
          AND OLD.published_at IS NULL AND NEW.published_at IS NOT NULL)
    EXECUTE FUNCTION outbox_forget_sent_code();

-- downgrade
DROP TRIGGER outbox_forget_sent_code ON outbox;

DROP FUNCTION outbox_forget_sent_code();

DROP TABLE codes;
