"""Checkpoints: each settled letter's sealed chain length and last record hash (the latest
supersedes), and the log's signed tree heads (RFC 6962) over every record, in log order.

Revision ID: 0005
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0005", "0004"
upgrade, downgrade = sql_migration(__file__)
