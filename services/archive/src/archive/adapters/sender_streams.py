"""Each letter's events to its sender, numbered in PostgreSQL (`sender_sequences`).

A number is taken by one `INSERT ... ON CONFLICT DO UPDATE`: the row stays locked until the
transaction ends, so a second replica taking the next number of the same letter waits for
the first to commit (or roll back) and reads the number it left. The outbox row written after
it in the same transaction is therefore written after the previous event's row.
"""

from __future__ import annotations

from uuid import UUID

from archive.service_layer.ports import SenderStream
from lre_shared.units import PgRepository

NEXT_OF_LETTER = (
    "WITH letter AS (SELECT letter_id, sender_id, item_number, idempotency_key FROM letters"
    " WHERE letter_id = $1),"
    " taken AS (INSERT INTO sender_sequences (letter_id, sender_id, last_sequence)"
    "  SELECT letter_id, sender_id, 1 FROM letter"
    "  ON CONFLICT (letter_id, sender_id)"
    "  DO UPDATE SET last_sequence = sender_sequences.last_sequence + 1"
    "  RETURNING last_sequence)"
    " SELECT l.sender_id, l.item_number, l.idempotency_key, t.last_sequence AS sequence"
    " FROM letter l, taken t"
)
NEXT_OF_DEPOSIT = (
    "INSERT INTO sender_sequences (letter_id, sender_id, last_sequence) VALUES ($1, $2, 1)"
    " ON CONFLICT (letter_id, sender_id)"
    " DO UPDATE SET last_sequence = sender_sequences.last_sequence + 1 RETURNING last_sequence"
)


class PgSenderStreams(PgRepository):
    async def next_of_letter(self, letter_id: UUID) -> SenderStream | None:
        row = await self.conn.fetchrow(NEXT_OF_LETTER, letter_id)
        return None if row is None else SenderStream(**dict(row))

    async def next_of_deposit(self, letter_id: UUID, sender_id: str) -> int:
        return int(await self.conn.fetchval(NEXT_OF_DEPOSIT, letter_id, sender_id))
