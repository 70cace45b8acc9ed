"""The SHA-256 a sender declares with an upload, whose object then sits at its content key.

Revision ID: 0005
"""

from lre_shared.migrations import execute_script

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    execute_script("ALTER TABLE uploads ADD COLUMN declared_sha256 char(64)")


def downgrade() -> None:
    execute_script("ALTER TABLE uploads DROP COLUMN declared_sha256")
