"""The recipient's language for each letter (given at deposit, changed on the site); what the
desk asks the recipient to send; a code the notifier could not send, and by which channel.

Revision ID: 0006
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0006", "0005"
upgrade, downgrade = sql_migration(__file__)
