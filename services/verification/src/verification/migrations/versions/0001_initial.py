"""Letters known to the desk, and the messaging tables.

Revision ID: 0001
"""

from lre_shared.migrations import MESSAGING_DDL, execute_script

revision = "0001"
down_revision = None


def upgrade() -> None:
    execute_script(MESSAGING_DDL)
    execute_script(
        """
        CREATE TABLE letters (
            letter_id         uuid PRIMARY KEY,
            item_number       char(12) NOT NULL,
            policy            text NOT NULL CHECK (policy IN ('default', 'cnb')),
            recipient_name    text NOT NULL,
            recipient_company text,
            known_at          timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE letters; DROP TABLE inbox; DROP TABLE outbox")
