"""Recipients' sign-ins with an identity provider.

Revision ID: 0007
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0007", "0006"
upgrade, downgrade = sql_migration(__file__)
