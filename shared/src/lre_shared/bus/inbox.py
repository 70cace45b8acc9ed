"""The inbox: each consumer's record of the messages it has handled, by id and body.

A message is recorded in the same transaction as its effect, so a redelivery (after a crash
between commit and ack, say) is recognised and acknowledged without a second effect.
"""

from __future__ import annotations

import enum
import hashlib
from uuid import UUID

import asyncpg


class Claim(enum.Enum):
    fresh = "fresh"  # first time: handle it
    duplicate = "duplicate"  # the same message again: acknowledge, nothing more
    reused = "reused"  # another message under an id already taken


def digest(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


async def claim(conn: asyncpg.Connection, queue: str, messages: list[tuple[UUID, bytes]]) -> list[Claim]:
    """Record each (message id, SHA-256 of its body) in the inbox; say of each whether it is
    new, a redelivery of a message handled before (same body), or a different message under
    an id already taken. In one round trip when all are new."""
    rows = await conn.fetch(
        "INSERT INTO inbox (queue, message_id, body_sha256)"
        " SELECT $1, m, h FROM unnest($2::uuid[], $3::bytea[]) AS t(m, h)"
        " ON CONFLICT DO NOTHING RETURNING message_id",
        queue,
        [message_id for message_id, _ in messages],
        [body_digest for _, body_digest in messages],
    )
    fresh = {row["message_id"] for row in rows}
    claims: list[Claim] = []
    known: dict[UUID, bytes | None] | None = None
    for message_id, body_digest in messages:
        if message_id in fresh:
            fresh.discard(message_id)  # the same id twice in one batch: the second is not new
            claims.append(Claim.fresh)
            continue
        if known is None:
            known = {
                row["message_id"]: row["body_sha256"]
                for row in await conn.fetch(
                    "SELECT message_id, body_sha256 FROM inbox"
                    " WHERE queue = $1 AND message_id = ANY($2::uuid[])",
                    queue,
                    [message_id for message_id, _ in messages],
                )
            }
        stored = known.get(message_id)
        # A row recorded before bodies were fingerprinted has none: taken as the same message.
        claims.append(
            Claim.reused if stored is not None and bytes(stored) != body_digest else Claim.duplicate
        )
    return claims
