"""The recipient's language for each letter (given at deposit, changed on the site); what the
desk asks the recipient to send; a code the notifier could not send, and by which channel.

Revision ID: 0006
"""

from lre_shared.migrations import execute_script

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE letters
            ADD COLUMN language text NOT NULL DEFAULT 'fr' CHECK (language IN ('fr', 'en'));
        ALTER TABLE verification_cases
            ADD COLUMN required_documents  text[] NOT NULL DEFAULT '{}',
            ADD COLUMN code_failure        text,
            ADD COLUMN code_failed_channel text,
            ADD COLUMN code_failed_at      timestamptz;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE verification_cases DROP COLUMN required_documents, DROP COLUMN code_failure,
            DROP COLUMN code_failed_channel, DROP COLUMN code_failed_at;
        ALTER TABLE letters DROP COLUMN language
        """
    )
