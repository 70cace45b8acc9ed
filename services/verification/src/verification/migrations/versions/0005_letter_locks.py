"""Letter locks as the pickup site tells them (`LetterLocked`, `LetterLockLifted`): no code is
sent while the letter's codes are held; and the letter-level audit trail, where a
supervisor's lift of a lock is kept with who asked and why.

Revision ID: 0005
"""

from alembic import op

from lre_shared.migrations import execute_script

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE letters
            ADD COLUMN codes_locked_until timestamptz,
            ADD COLUMN codes_lock_changed_at timestamptz;  -- of the latest lock event applied

        CREATE TABLE letter_events (
            event_id    bigserial PRIMARY KEY,
            letter_id   uuid NOT NULL REFERENCES letters (letter_id),
            item_number char(12) NOT NULL,
            at          timestamptz NOT NULL,
            actor       text NOT NULL,
            action      text NOT NULL,
            detail      jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX letter_events_by_letter ON letter_events (letter_id, event_id)
        """
    )
    # Append-only, as the cases' audit trail (the function of 0003 refuses any change).
    op.execute(
        "CREATE TRIGGER letter_events_append_only BEFORE UPDATE OR DELETE ON letter_events"
        " FOR EACH ROW EXECUTE FUNCTION case_events_append_only()"
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE letter_events;
        ALTER TABLE letters DROP COLUMN codes_locked_until, DROP COLUMN codes_lock_changed_at
        """
    )
