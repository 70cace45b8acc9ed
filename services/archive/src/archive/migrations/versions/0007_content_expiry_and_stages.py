"""When each letter's content goes, computed by the rules profile, and when it was refused.

`content_expires_at` is written by the archive whenever what it depends on changes (notice,
acceptance, AR signature, unclaimed) and, at start-up, for every letter whose content is still
kept (`archive.service_layer.expiry.reschedule_all`): the sweeper only compares it with the
clock. `refused_at` tells the sender where its letter stands (`get_letter_status.v1`).

Revision ID: 0007
"""

from lre_shared.migrations import execute_script

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE letters
            ADD COLUMN content_expires_at timestamptz,
            ADD COLUMN refused_at         timestamptz;
        CREATE INDEX letters_content_due ON letters (content_expires_at)
            WHERE content_deleted_at IS NULL AND content_expires_at IS NOT NULL
        """
    )


def downgrade() -> None:
    execute_script(
        "DROP INDEX letters_content_due;"
        " ALTER TABLE letters DROP COLUMN content_expires_at, DROP COLUMN refused_at"
    )
