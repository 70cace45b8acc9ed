"""Sender events: each letter's events to its sender are numbered from 1 (`SenderEvent.sequence`).

One row a letter and sender: the number of the letter's last event. The relay takes the next
number with one `INSERT ... ON CONFLICT DO UPDATE`, which locks the row until its transaction
ends, so two archive replicas handling two facts of one letter number them one after the
other, and the outbox rows follow in that order. Keyed by sender too: a refused deposit has no
letter row, and a letter id is the sender's word until the archive takes the deposit.

Revision ID: 0009
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0009", "0008"
upgrade, downgrade = sql_migration(__file__)
