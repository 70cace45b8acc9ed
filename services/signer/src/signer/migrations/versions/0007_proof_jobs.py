"""Proofs to issue: each recorded event that has a proof (and each settled letter's envelope)
leaves a job in the transaction that records it; the proof issuer renders and seals it after
the commit, off the event path.

Revision ID: 0007
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0007", "0006"
upgrade, downgrade = sql_migration(__file__)
