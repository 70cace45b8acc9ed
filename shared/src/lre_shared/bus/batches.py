"""Deliveries of one queue handled together, in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from lre_shared import background

D = TypeVar("D")


class Batcher(Generic[D]):
    """Groups the deliveries of one queue that are waiting at the same moment, so that
    they share one transaction (one inbox insert, one commit) instead of one each.

    Nothing waits to fill a batch: a worker takes what is there, up to `limit`. Each
    delivery's task waits until its batch is committed and acknowledged, so FastStream's
    graceful shutdown still waits for it.
    """

    def __init__(self, process: Callable[[list[D]], Awaitable[None]], *, limit: int, workers: int) -> None:
        self._process = process
        self._limit = limit
        self._workers = workers
        self._waiting: asyncio.Queue[tuple[D, asyncio.Future[None]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def submit(self, delivery: D) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._waiting.put((delivery, done))
        await done

    async def _work(self) -> None:
        while True:
            batch = [await self._waiting.get()]
            try:
                # One turn of the event loop: deliveries already read from the socket reach
                # the queue too and share this transaction, rather than each waking a worker.
                await asyncio.sleep(0)
                while len(batch) < self._limit and not self._waiting.empty():
                    batch.append(self._waiting.get_nowait())
                await self._process([delivery for delivery, _ in batch])
            except asyncio.CancelledError:
                for _, done in batch:
                    done.cancel()
                raise
            except Exception as exc:  # reported to each delivery's task, which logs it
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            await background.cancel(task)
        self._tasks = []
