"""What the expiry of a letter's content depends on: its first notice, its acceptance, its
first download, and when its content was deleted.

Revision ID: 0003
"""

from lre_shared.migrations import execute_script

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE letters
            ADD COLUMN first_notice_at    timestamptz,
            ADD COLUMN window_closes_at   timestamptz,
            ADD COLUMN accepted_at        timestamptz,
            ADD COLUMN handed_over_at     timestamptz,
            ADD COLUMN content_deleted_at timestamptz;
        CREATE INDEX letters_content_kept ON letters (letter_id) WHERE content_deleted_at IS NULL
        """
    )


def downgrade() -> None:
    execute_script(
        "DROP INDEX letters_content_kept;"
        " ALTER TABLE letters DROP COLUMN first_notice_at, DROP COLUMN window_closes_at,"
        " DROP COLUMN accepted_at, DROP COLUMN handed_over_at, DROP COLUMN content_deleted_at"
    )
