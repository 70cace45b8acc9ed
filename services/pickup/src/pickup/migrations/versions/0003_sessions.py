"""Server-side sessions of the pickup site: the signed cookie names one, and a cookie whose
session has ended (signed out, or idle too long) carries nothing any more, even replayed.

Revision ID: 0003
"""

from lre_shared.migrations import execute_script

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE site_sessions (
            session_id text PRIMARY KEY,
            started_at timestamptz NOT NULL DEFAULT now(),
            seen_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX site_sessions_seen ON site_sessions (seen_at);
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE site_sessions;")
