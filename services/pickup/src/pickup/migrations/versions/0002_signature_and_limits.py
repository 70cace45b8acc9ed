"""The acknowledgement of receipt (AR) and what follows acceptance: how the letter may be
signed, its signature, the verification case of the one-time-code path, the unclaimed
state's time, and the per-address attempt counters.

Revision ID: 0002
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0002", "0001"
upgrade, downgrade = sql_migration(__file__)
