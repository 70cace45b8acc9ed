"""Tasks a service runs beside its consumers (the outbox relay, periodic jobs, batch workers)."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel `task` and wait until it has stopped: what it holds is released before the caller
    goes on (closes the pool, stops the broker)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
