"""Verification cases, identity documents (their bytes are in S3, encrypted), inbound
messages nobody matched (triage), phone callbacks and the append-only audit trail.

Revision ID: 0003
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0003", "0002"
upgrade, downgrade = sql_migration(__file__)
