"""Deliveries waiting together share one transaction (`lre_shared.bus.batches`): a burst is
not split among idle workers, deliveries still on their way through the event loop join it,
and a failed batch is reported to each of its deliveries."""

from __future__ import annotations

import asyncio

import pytest

from lre_shared.bus.batches import Batcher


class Recorder:
    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on

    async def process(self, batch: list[int]) -> None:
        self.batches.append(batch)
        await asyncio.sleep(0.01)  # a transaction's round trips
        if self.fail_on in batch:
            raise RuntimeError(f"{self.fail_on} failed")


async def test_a_burst_of_deliveries_goes_in_one_batch_whatever_the_number_of_idle_workers() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.process, limit=50, workers=4)
    await batcher.submit(0)  # the workers are started and idle
    try:
        await asyncio.gather(*(batcher.submit(n) for n in range(1, 11)))
    finally:
        await batcher.stop()
    assert recorder.batches == [[0], list(range(1, 11))]


async def test_deliveries_still_on_their_way_through_the_event_loop_join_the_batch() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.process, limit=50, workers=2)
    await batcher.submit(0)

    async def arrive(n: int, hops: int) -> None:
        # aiormq's reader, the channel's, aio-pika's task: a few turns before the submit.
        for _ in range(hops):
            await asyncio.sleep(0)
        await batcher.submit(n)

    try:
        await asyncio.gather(*(arrive(n, hops=n) for n in range(1, 6)))
    finally:
        await batcher.stop()
    assert recorder.batches == [[0], [1, 2, 3, 4, 5]]


async def test_a_batch_is_never_larger_than_the_limit() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.process, limit=4, workers=1)
    await batcher.submit(0)
    try:
        await asyncio.gather(*(batcher.submit(n) for n in range(1, 11)))
    finally:
        await batcher.stop()
    assert [len(batch) for batch in recorder.batches] == [1, 4, 4, 2]
    assert sorted(n for batch in recorder.batches for n in batch) == list(range(11))


async def test_a_failed_batch_is_reported_to_each_of_its_deliveries_and_the_next_batch_goes_on() -> None:
    recorder = Recorder(fail_on=3)
    batcher = Batcher(recorder.process, limit=50, workers=1)
    await batcher.submit(0)
    try:
        outcomes = await asyncio.gather(*(batcher.submit(n) for n in range(1, 6)), return_exceptions=True)
        await batcher.submit(6)
    finally:
        await batcher.stop()
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert recorder.batches[-1] == [6]


async def test_stopping_cancels_the_deliveries_of_the_batch_in_hand() -> None:
    started = asyncio.Event()

    async def never_commits(batch: list[int]) -> None:
        started.set()
        await asyncio.Event().wait()

    batcher = Batcher(never_commits, limit=50, workers=1)
    waiting = asyncio.ensure_future(batcher.submit(1))
    await started.wait()
    await batcher.stop()
    with pytest.raises(asyncio.CancelledError):
        await waiting
