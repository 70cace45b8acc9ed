"""Sender idempotency keys: one letter per (sender, key), and the event it was announced with.

Revision ID: 0002
"""

from lre_shared.migrations import execute_script

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE letters
            ADD COLUMN idempotency_key   text,
            ADD COLUMN submission_sha256 char(64),
            ADD COLUMN deposited_event   bytea;
        CREATE UNIQUE INDEX letters_idempotency ON letters (sender_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL
        """
    )


def downgrade() -> None:
    execute_script(
        "DROP INDEX letters_idempotency;"
        " ALTER TABLE letters DROP COLUMN idempotency_key, DROP COLUMN submission_sha256,"
        " DROP COLUMN deposited_event"
    )
