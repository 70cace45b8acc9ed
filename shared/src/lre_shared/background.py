"""Tasks a service runs beside its consumers (the outbox relay, periodic jobs, batch workers)."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel `task` and wait until it has stopped: what it holds is released before the caller
    goes on (closes the pool, stops the broker)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class PoolTask:
    """A task that runs on the service's pool from `start` until `stop` (`run`, a subclass's)."""

    name = "background"
    _task: asyncio.Task[None] | None = None

    async def start(self, pool: asyncpg.Pool) -> None:
        self._task = asyncio.create_task(self.run(pool), name=self.name)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def run(self, pool: asyncpg.Pool) -> None:
        raise NotImplementedError
