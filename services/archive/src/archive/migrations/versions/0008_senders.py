"""Sender systems: the registry that `lre-senders add` keeps beside their broker users.

One row per sender system: its id (which is also its RabbitMQ user and one routing-key word),
its name, when it was added, when its broker password was last set, and when it was removed
(the row stays: letters, consent and evidence keep naming the sender after its access ends).
No password is kept here: the broker holds its hash, the operator the password.

Revision ID: 0008
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0008", "0007"
upgrade, downgrade = sql_migration(__file__)
