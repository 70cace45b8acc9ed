"""The SHA-256 a sender declares with an upload, whose object then sits at its content key.

Revision ID: 0005
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0005", "0004"
upgrade, downgrade = sql_migration(__file__)
