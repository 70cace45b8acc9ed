"""Every delivery attempt, stored with its outcome.

Attempts are written on a connection of their own, outside the handler's transaction: an
attempt deferred for a retry (which rolls the transaction back) is kept too, and a
redelivered command does not try again a channel that already failed for good. That
connection comes from a small pool of the log's own: every handler already holds one of
the service's connections for its transaction, so taking a second from the same pool
would deadlock once all of them are held.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

import asyncpg

from lre_shared.db import create_pool
from lre_shared.messages import NoticeChannel, NoticeKind


@dataclass(frozen=True)
class Attempt:
    notice_id: UUID
    letter_id: UUID
    channel: NoticeChannel
    address: str
    outcome: str  # sent | failed | deferred | delivered
    reason: str | None = None
    provider_message_id: str | None = None
    kind: str = NoticeKind.notice.value  # notice | reminder | code


class AttemptLog(Protocol):
    async def record(self, attempt: Attempt) -> None: ...

    async def failed_for_good(self, notice_id: UUID) -> dict[NoticeChannel, str]:
        """Channels already tried for this notice that failed for good, with the reason."""
        ...

    async def claim(self, round_id: UUID, channel: NoticeChannel, notice_id: UUID) -> UUID:
        """Take `channel` in the round for `notice_id`, unless a command took it first; return
        the command that holds it. Kept whatever becomes of the handler's transaction: a
        channel tried is used, and the command that tried it is the one to try it again."""
        ...


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
        await (await self.pool()).execute(
            "INSERT INTO delivery_attempts (notice_id, letter_id, channel, address, outcome,"
            " reason, provider_message_id, kind) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            attempt.notice_id,
            attempt.letter_id,
            attempt.channel.value,
            attempt.address,
            attempt.outcome,
            attempt.reason,
            attempt.provider_message_id,
            attempt.kind,
        )

    async def failed_for_good(self, notice_id: UUID) -> dict[NoticeChannel, str]:
        rows = await (await self.pool()).fetch(
            "SELECT channel, reason FROM delivery_attempts WHERE notice_id = $1 AND outcome = 'failed'",
            notice_id,
        )
        return {NoticeChannel(row["channel"]): row["reason"] or "" for row in rows}

    async def claim(self, round_id: UUID, channel: NoticeChannel, notice_id: UUID) -> UUID:
        pool = await self.pool()
        owner: UUID | None = await pool.fetchval(
            "INSERT INTO notice_channels (round_id, channel, notice_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (round_id, channel) DO NOTHING RETURNING notice_id",
            round_id,
            channel.value,
            notice_id,
        )
        if owner is None:
            owner = await pool.fetchval(
                "SELECT notice_id FROM notice_channels WHERE round_id = $1 AND channel = $2",
                round_id,
                channel.value,
            )
        return owner or notice_id
