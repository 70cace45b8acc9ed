"""Queues due reminders every few seconds; the clock is a parameter so tests control it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from lre_shared.bus import Transaction
from lre_shared.messages import now_utc
from lre_shared.runtime import PeriodicTask
from notifier.service_layer import reminders


@dataclass
class ReminderTicker:
    every: timedelta
    poll_seconds: float
    clock: Callable[[], datetime] = now_utc
    _task: PeriodicTask | None = field(default=None, init=False, repr=False)

    async def tick(self, pool: asyncpg.Pool) -> int:
        async with pool.acquire() as conn, conn.transaction():
            return await reminders.queue_due(Transaction(conn), self.clock(), self.every)

    async def start(self, pool: asyncpg.Pool) -> None:
        self._task = PeriodicTask("reminders", self.tick, self.poll_seconds)
        await self._task.start(pool)

    async def stop(self) -> None:
        if self._task is not None:
            await self._task.stop()
            self._task = None
