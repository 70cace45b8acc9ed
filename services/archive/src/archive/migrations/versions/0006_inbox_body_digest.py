"""The inbox keeps each message's body digest, to tell a reused message id from a redelivery.

Revision ID: 0006
"""

from lre_shared.migrations import INBOX_BODY_DIGEST_DDL, INBOX_BODY_DIGEST_DOWN, execute_script

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    execute_script(INBOX_BODY_DIGEST_DDL)


def downgrade() -> None:
    execute_script(INBOX_BODY_DIGEST_DOWN)
