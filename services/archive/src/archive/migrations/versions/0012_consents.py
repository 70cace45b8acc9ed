"""Consent registry, CPCE L.100: each sender's recipients' consents, as an append-only history.

One row per consent as given; its withdrawal fills the row's withdrawal columns, once. A
consent given again after a withdrawal is a new row; the latest row of a (sender, address)
is the current state. A trigger keeps the history as it was written: no row is deleted, and
nothing of a row changes but its withdrawal, recorded once.

Revision ID: 0012
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0012", "0011"
upgrade, downgrade = sql_migration(__file__)
