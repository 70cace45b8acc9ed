"""Letters as the recipient sees them, and the messaging tables.

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
            item_number       char(12) NOT NULL UNIQUE,
            state             text NOT NULL
                              CHECK (state IN ('awaiting', 'accepted', 'refused', 'unclaimed')),
            recipient         jsonb NOT NULL,
            sender            jsonb NOT NULL,  -- CPCE R.53-3: shown only after acceptance
            documents         jsonb NOT NULL,
            deposited_at      timestamptz NOT NULL,
            first_notice_at   timestamptz,
            deadline          date NOT NULL,
            notice_failures   integer NOT NULL DEFAULT 0,
            identity_failures integer NOT NULL DEFAULT 0,
            decided_at        timestamptz
        )
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE letters; DROP TABLE inbox; DROP TABLE outbox")
