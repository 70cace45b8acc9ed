"""Proof PDFs issued on events, and the acknowledgements of receipt (AR) issued for the
personal-certificate path with, once checked and accepted, the signed AR.

Revision ID: 0003
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0003", "0002"
upgrade, downgrade = sql_migration(__file__)
