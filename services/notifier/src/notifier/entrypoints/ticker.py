"""Queues due reminders every few seconds; the clock is a parameter so tests control it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg

from lre_shared.clock import Clock, now_utc
from lre_shared.runtime import PeriodicTask
from notifier.adapters.postgres import transaction
from notifier.service_layer import reminders


@dataclass
class ReminderTicker:
    every: timedelta
    poll_seconds: float
    clock: Clock = now_utc
    _task: PeriodicTask | None = field(default=None, init=False, repr=False)

    async def tick(self, pool: asyncpg.Pool) -> int:
        async with transaction(pool) as uow:
            return await reminders.queue_due(uow, self.clock(), self.every)

    async def start(self, pool: asyncpg.Pool) -> None:
        self._task = PeriodicTask("reminders", self.tick, self.poll_seconds)
        await self._task.start(pool)

    async def stop(self) -> None:
        if self._task is not None:
            await self._task.stop()
            self._task = None
