"""Every attempt is kept, including those deferred for a retry; reminders and opt-outs.

Revision ID: 0002
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0002", "0001"
upgrade, downgrade = sql_migration(__file__)
