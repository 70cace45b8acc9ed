"""The sweeper as a periodic task of the running service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger(__name__)


class PeriodicSweeper:
    def __init__(self, sweep: Callable[[asyncpg.Pool], Awaitable[int]], every_seconds: float) -> None:
        self._sweep = sweep
        self._every = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self, pool: asyncpg.Pool) -> None:
        self._task = asyncio.create_task(self._run(pool), name="archive-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, pool: asyncpg.Pool) -> None:
        while True:
            try:
                await self._sweep(pool)
            except Exception:
                # A store or database hiccup: the next run takes the same letters again.
                log.exception("sweep failed; trying again at the next run")
            await asyncio.sleep(self._every)
