"""The recipient's birth date as the sender declared it (`LetterDeposited.recipient.birth_date`),
for the agent to compare with the identity documents; NULL for letters learnt before, and for
letters whose sender declared none.

Revision ID: 0008
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0008", "0007"
upgrade, downgrade = sql_migration(__file__)
