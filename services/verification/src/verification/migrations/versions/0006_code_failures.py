"""A code the notifier could not send (`code.failed.v1`): when and why, so that it is void and
does not count against the codes the recipient may ask for.

Revision ID: 0006
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0006", "0005"
upgrade, downgrade = sql_migration(__file__)
