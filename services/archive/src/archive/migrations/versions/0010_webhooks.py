"""Webhooks: each sender system's endpoint, and one delivery row per event sent to it.

The secret signs deliveries (HMAC), so it is kept as issued: the archive holds no key to
encrypt it with; the database's own protection at rest and its access rights cover it.
`previous_secret` still signs beside the new one until `previous_until`, after a rotation.

A delivery row is written in the transaction that takes the event from the bus; the
dispatcher claims due rows with `FOR UPDATE SKIP LOCKED` (several replicas share them) and
records each attempt before and after the call.

Revision ID: 0010
"""

from lre_shared.migrations import sql_migration

revision, down_revision = "0010", "0009"
upgrade, downgrade = sql_migration(__file__)
