"""What the expiry of a letter's content depends on: its first notice, its acceptance, its
first download, and when its content was deleted.

Revision ID: 0003
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0003", "0002"
upgrade, downgrade = sql_migration(__file__)
