"""The background work a service repeats: a failed run is retried, a closed pool ends it."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import asyncpg

from lre_shared.runtime import PeriodicTask


class FakePool:
    def __init__(self) -> None:
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing


async def test_a_failed_run_is_tried_again_and_a_closed_pool_ends_the_loop() -> None:
    pool = FakePool()
    runs: list[int] = []

    async def work(_: Any) -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("store away")
        if len(runs) == 3:
            pool.closing = True

    task = PeriodicTask("sweeper", work, every_seconds=0.01)
    await task.start(cast(asyncpg.Pool, pool))
    assert task._task is not None
    await asyncio.wait_for(task._task, timeout=5)  # ends by itself once the pool closes
    assert runs == [0, 1, 2]
    await task.stop()
