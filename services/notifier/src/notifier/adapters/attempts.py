"""Delivery attempts and the channels each round used, in PostgreSQL.

`PgAttemptLog` writes on a connection of its own, outside the handler's transaction: an
attempt deferred for a retry (which rolls the transaction back) is kept too, and a
redelivered command does not try again a channel that already failed for good. That
connection comes from a small pool of the log's own: every handler already holds one of
the service's connections for its transaction, so taking a second from the same pool
would deadlock once all of them are held.

`PgAttempts` and `PgRounds` work inside a transaction (a provider's report): what they write
commits with what it publishes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from lre_shared.contracts import NoticeChannel
from lre_shared.db import create_pool
from lre_shared.units import PgRepository, columns, fetch_one, insert
from notifier.domain.delivery import Attempt

# One round trip: the notice's latest record on the channel (a `sent` one first, whatever came
# after it), and the `sending` mark unless the provider took the notice already.
BEGIN_ATTEMPT = """
WITH previous AS (
    SELECT notice_id, letter_id, channel, address, outcome, reason, provider_message_id, kind
    FROM delivery_attempts WHERE notice_id = $1 AND channel = $3
    ORDER BY outcome IN ('sent', 'delivered') DESC, id DESC LIMIT 1
), mark AS (
    INSERT INTO delivery_attempts (notice_id, letter_id, channel, address, outcome, reason,
        provider_message_id, kind)
    SELECT $1::uuid, $2::uuid, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text
    WHERE NOT EXISTS (SELECT 1 FROM previous WHERE outcome IN ('sent', 'delivered'))
)
SELECT * FROM previous
"""
TAKE_CHANNEL = (
    "INSERT INTO notice_channels (round_id, channel, notice_id) VALUES ($1, $2, $3)"
    " ON CONFLICT (round_id, channel) DO NOTHING RETURNING notice_id"
)


def _row(attempt: Attempt) -> dict[str, object]:
    """The attempt's columns, in the order of its fields (`BEGIN_ATTEMPT`'s parameters)."""
    return {**columns(attempt), "channel": attempt.channel.value}


def _attempt(**row: Any) -> Attempt:
    return Attempt(**row | {"channel": NoticeChannel(row["channel"])})


@dataclass
class PgAttemptLog:
    database_url: str = field(repr=False)
    size: int = 4
    _pool: asyncpg.Pool | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def pool(self) -> asyncpg.Pool:
        # Opened on first use: the service's migrations have run by then.
        async with self._lock:
            if self._pool is None:
                self._pool = await create_pool(self.database_url, self.size)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def record(self, attempt: Attempt) -> None:
        await insert(await self.pool(), "delivery_attempts", _row(attempt))

    async def begin(self, attempt: Attempt) -> Attempt | None:
        # Its own statement on the log's own connection: committed before the provider is
        # called, whatever becomes of the handler's transaction.
        return await fetch_one(await self.pool(), _attempt, BEGIN_ATTEMPT, *_row(attempt).values())

    async def failed_for_good(self, notice_id: UUID) -> dict[NoticeChannel, str]:
        rows = await (await self.pool()).fetch(
            "SELECT channel, reason FROM delivery_attempts WHERE notice_id = $1 AND outcome = 'failed'",
            notice_id,
        )
        return {NoticeChannel(row["channel"]): row["reason"] or "" for row in rows}

    async def claim(self, round_id: UUID, channel: NoticeChannel, notice_id: UUID) -> UUID:
        pool = await self.pool()
        owner: UUID | None = await pool.fetchval(TAKE_CHANNEL, round_id, channel.value, notice_id)
        if owner is None:
            owner = await pool.fetchval(
                "SELECT notice_id FROM notice_channels WHERE round_id = $1 AND channel = $2",
                round_id,
                channel.value,
            )
        return owner or notice_id


class PgAttempts(PgRepository):
    async def sent_as(self, provider_message_id: str) -> Attempt | None:
        return await fetch_one(
            self.conn,
            _attempt,
            "SELECT notice_id, letter_id, channel, address, outcome, reason, provider_message_id,"
            " kind FROM delivery_attempts WHERE provider_message_id = $1 AND outcome = 'sent'"
            " ORDER BY id DESC LIMIT 1",
            provider_message_id,
        )

    async def add(self, attempt: Attempt) -> None:
        await insert(self.conn, "delivery_attempts", _row(attempt))

    async def add_first_failure(self, attempt: Attempt) -> bool:
        status = await insert(
            self.conn,
            "delivery_attempts",
            _row(attempt),
            then="ON CONFLICT (provider_message_id) WHERE outcome = 'failed' AND provider_message_id <> ''"
            " DO NOTHING",
        )
        return status == "INSERT 0 1"


class PgRounds(PgRepository):
    async def used(self, round_id: UUID) -> set[NoticeChannel]:
        rows = await self.conn.fetch("SELECT channel FROM notice_channels WHERE round_id = $1", round_id)
        return {NoticeChannel(row["channel"]) for row in rows}

    async def take(self, round_id: UUID, channel: NoticeChannel, notice_id: UUID) -> bool:
        return await self.conn.fetchval(TAKE_CHANNEL, round_id, channel.value, notice_id) is not None
