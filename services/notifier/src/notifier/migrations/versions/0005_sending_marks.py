"""A delivery attempt is marked `sending` before its provider is called, so that a redelivered
command knows a send may have happened (and resends it under the same Message-ID).

Revision ID: 0005
"""

from lre_shared.migrations import execute_script

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_outcome_check;
        ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_outcome_check
            CHECK (outcome IN ('sending', 'sent', 'failed', 'deferred', 'delivered'));
        DROP INDEX delivery_attempts_notice;
        CREATE INDEX delivery_attempts_notice ON delivery_attempts (notice_id, channel)
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DELETE FROM delivery_attempts WHERE outcome = 'sending';
        DROP INDEX delivery_attempts_notice;
        CREATE INDEX delivery_attempts_notice ON delivery_attempts (notice_id);
        ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_outcome_check;
        ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_outcome_check
            CHECK (outcome IN ('sent', 'failed', 'deferred', 'delivered'));
        """
    )
