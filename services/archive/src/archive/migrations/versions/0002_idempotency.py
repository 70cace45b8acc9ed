"""Sender idempotency keys: one letter per (sender, key), and the event it was announced with.

Revision ID: 0002
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0002", "0001"
upgrade, downgrade = sql_migration(__file__)
