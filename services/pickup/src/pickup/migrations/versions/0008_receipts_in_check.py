"""Signed ARs kept for another check by the signer, where every replica of the site finds them.

Revision ID: 0008
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0008", "0007"
upgrade, downgrade = sql_migration(__file__)
