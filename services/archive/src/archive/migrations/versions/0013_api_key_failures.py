"""Failed API key authentications per client address, shared by every replica.

One row per address: the window its first failure opened, and the failures counted in it. A
failure after the window closed opens a new one (the row is reset in the same statement that
counts it, so replicas counting at once never lose a failure). The sweeper deletes the rows
of closed windows.

Revision ID: 0013
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0013", "0012"
upgrade, downgrade = sql_migration(__file__)
