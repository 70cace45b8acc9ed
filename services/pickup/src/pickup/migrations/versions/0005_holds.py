"""Holds on an item after wrong answers, per client address and for everyone, with growing
delays (`pickup.domain.locks`); one JSON value a kind, on the letter's row, so that one
conditional update of that row judges an answer.

Revision ID: 0005
"""

from lre_shared.migrations import execute_script

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE letters
            ADD COLUMN identity_holds jsonb NOT NULL DEFAULT '{}',
            ADD COLUMN code_holds     jsonb NOT NULL DEFAULT '{}';
        """
    )


def downgrade() -> None:
    execute_script("ALTER TABLE letters DROP COLUMN identity_holds, DROP COLUMN code_holds")
