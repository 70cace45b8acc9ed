"""The evidence journal and the messaging tables.

Revision ID: 0001
"""

from lre_shared.migrations import MESSAGING_DDL, sql_migration

revision, down_revision = "0001", None
upgrade, downgrade = sql_migration(__file__, before=MESSAGING_DDL)
