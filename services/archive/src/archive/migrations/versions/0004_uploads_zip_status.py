"""Presigned uploads, envelope proofs for the zip, refused deposits for the status query,
and the receipt and unclaimed dates.

Revision ID: 0004
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0004", "0003"
upgrade, downgrade = sql_migration(__file__)
