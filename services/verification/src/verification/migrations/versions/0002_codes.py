"""One-time signing codes (DESIGN §2 step 5): stored only as an HMAC under the server key,
bound to the letter and to the code's own id; never in clear.

The clear code leaves in the `SendCode` command to the notifier, written to the outbox in the
transaction that stores the HMAC. The relay keeps published rows a while; a trigger removes
the code from the command's body as the relay marks it published, so the code stays in this
database only until it is on the bus.

Revision ID: 0002
"""

from alembic import op

from lre_shared.migrations import execute_script

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    execute_script(
        """
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
            WHERE used_at IS NULL AND invalidated_at IS NULL
        """
    )
    # One statement each: the function's body holds semicolons.
    op.execute(
        """
        CREATE FUNCTION outbox_forget_sent_code() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.body := convert_to((convert_from(NEW.body, 'UTF8')::jsonb - 'code')::text, 'UTF8');
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER outbox_forget_sent_code BEFORE UPDATE OF published_at ON outbox FOR EACH ROW
            WHEN (NEW.routing_key = 'send_code.v1'
                  AND OLD.published_at IS NULL AND NEW.published_at IS NOT NULL)
            EXECUTE FUNCTION outbox_forget_sent_code()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_forget_sent_code ON outbox")
    op.execute("DROP FUNCTION outbox_forget_sent_code()")
    op.execute("DROP TABLE codes")
