"""A code the notifier could not send (`code.failed.v1`): when and why, so that it is void and
does not count against the codes the recipient may ask for.

Revision ID: 0006
"""

from lre_shared.migrations import execute_script

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE codes
            ADD COLUMN send_failed_at timestamptz,
            ADD COLUMN send_failure   text;
        """
    )


def downgrade() -> None:
    execute_script("ALTER TABLE codes DROP COLUMN send_failed_at, DROP COLUMN send_failure")
