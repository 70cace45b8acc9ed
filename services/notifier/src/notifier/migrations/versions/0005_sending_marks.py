"""A delivery attempt is marked `sending` before its provider is called, so that a redelivered
command knows a send may have happened (and resends it under the same Message-ID).

Revision ID: 0005
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0005", "0004"
upgrade, downgrade = sql_migration(__file__)
