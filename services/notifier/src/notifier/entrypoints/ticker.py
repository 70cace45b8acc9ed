"""Queues due reminders every few seconds; the clock is a parameter so tests control it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from lre_shared.bus import Transaction
from lre_shared.messages import now_utc
from notifier.service_layer import reminders

log = logging.getLogger(__name__)


@dataclass
class ReminderTicker:
    every: timedelta
    poll_seconds: float
    clock: Callable[[], datetime] = now_utc
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def tick(self, pool: asyncpg.Pool) -> int:
        async with pool.acquire() as conn, conn.transaction():
            return await reminders.queue_due(Transaction(conn), self.clock(), self.every)

    async def start(self, pool: asyncpg.Pool) -> None:
        async def loop() -> None:
            while True:
                try:
                    await self.tick(pool)
                except Exception:
                    log.exception("queueing reminders failed; trying again at the next tick")
                await asyncio.sleep(self.poll_seconds)

        self._task = asyncio.create_task(loop(), name="reminders")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
