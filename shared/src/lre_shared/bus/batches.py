"""Deliveries of one queue handled together, in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from lre_shared import background

D = TypeVar("D")

# Turns of the event loop a gathering worker gives deliveries on their way to the queue,
# as long as each turn brings more: never a wait for time.
_GATHER_TURNS = 8


class Batcher(Generic[D]):
    """Groups the deliveries of one queue that are waiting at the same moment, so that
    they share one transaction (one inbox insert, one commit) instead of one each.

    Nothing waits for time to fill a batch: a worker takes what is there, up to `limit`.
    One idle worker at a time gathers the next batch (the others wait their turn), so a
    burst of deliveries is not split one each among idle workers, and it gives the event loop
    a few turns while more keep arriving: a delivery read from the socket passes through
    aiormq's reader, the channel's and aio-pika's task of its own before it is submitted
    here. Each delivery's task waits until its batch is committed and acknowledged, so
    FastStream's graceful shutdown still waits for it.
    """

    def __init__(self, process: Callable[[list[D]], Awaitable[None]], *, limit: int, workers: int) -> None:
        self._process = process
        self._limit = limit
        self._workers = workers
        self._waiting: asyncio.Queue[tuple[D, asyncio.Future[None]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._gathering = asyncio.Lock()

    async def submit(self, delivery: D) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._waiting.put((delivery, done))
        await done

    async def _gather(self) -> list[tuple[D, asyncio.Future[None]]]:
        async with self._gathering:
            batch = [await self._waiting.get()]
            try:
                for _ in range(_GATHER_TURNS):
                    waiting = self._waiting.qsize()
                    if len(batch) + waiting >= self._limit:
                        break
                    await asyncio.sleep(0)
                    if self._waiting.qsize() == waiting:
                        break  # nothing more came in that turn: go with what there is
            except asyncio.CancelledError:
                for _, done in batch:
                    done.cancel()
                raise
            while len(batch) < self._limit and not self._waiting.empty():
                batch.append(self._waiting.get_nowait())
            return batch

    async def _work(self) -> None:
        while True:
            batch = await self._gather()
            try:
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
