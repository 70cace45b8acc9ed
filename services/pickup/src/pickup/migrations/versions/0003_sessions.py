"""Server-side sessions of the pickup site: the signed cookie names one, and a cookie whose
session has ended (signed out, or idle too long) carries nothing any more, even replayed.

Revision ID: 0003
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0003", "0002"
upgrade, downgrade = sql_migration(__file__)
