"""Seals: each evidence record's detached CAdES-T signature, what it is worth, and when it
was copied to the evidence bucket (under object lock).

Revision ID: 0002
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0002", "0001"
upgrade, downgrade = sql_migration(__file__)
