"""Notices on every channel: the channels each round used, the commands a provider's later
report may continue, the reminders' channels, one failure a provider message.

Revision ID: 0004
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0004", "0003"
upgrade, downgrade = sql_migration(__file__)
