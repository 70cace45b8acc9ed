"""Failed API keys counted on a real PostgreSQL: two replicas (two `KeyCheck`s on pools of
their own, one database) share each client address's count, refuse it together with 429 once
it is reached, and let it try again once the window has closed; failures at once are each
counted; the sweeper forgets the closed windows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from archive.adapters.api_keys import PgApiKeys, PgAuthFailures
from archive.bootstrap import MIGRATIONS
from archive.domain.api_keys import FailureLimit, FailureWindow, new_key
from archive.entrypoints.senders_http import KeyCheck, sender_routes
from lre_shared import db
from lre_shared.contracts import Message

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LIMIT = FailureLimit(4, timedelta(minutes=5))
WRONG = "lre_0123abcd_" + "A" * 43


@dataclass
class Clock:
    at: datetime = NOW

    def __call__(self) -> datetime:
        return self.at


async def no_signer(query: Message, answer: type[Message], *, timeout: float) -> Message:
    raise AssertionError("no letter is asked for in these tests")


@pytest.fixture
async def pools(database_url: str) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    await db.migrate(database_url, MIGRATIONS)
    first, second = await db.create_pool(database_url, 4), await db.create_pool(database_url, 4)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def replica(pool: asyncpg.Pool, clock: Clock) -> httpx.AsyncClient:
    """One replica's API, as the archive wires it (`bootstrap.key_check`)."""
    check = KeyCheck(PgApiKeys(lambda: pool), LIMIT, (), clock, PgAuthFailures(lambda: pool))
    app = Starlette(routes=sender_routes(check, no_signer))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://archive")


async def attempt(api: httpx.AsyncClient, key: str) -> httpx.Response:
    path = f"/senders/letters/{uuid.uuid4()}/proofs"
    return await api.get(path, headers={"authorization": f"Bearer {key}"})


async def test_replicas_share_the_count_refuse_together_and_allow_again_once_the_window_closes(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    clock = Clock()
    good = new_key()
    await PgApiKeys(lambda: pools[0]).add(uuid.uuid4(), "acme", good.prefix, good.sha256, "erp")
    async with replica(pools[0], clock) as one, replica(pools[1], clock) as two:
        # Four failures, two on each replica: the limit, reached together.
        for api in (one, two, one, two):
            assert (await attempt(api, WRONG)).status_code == 401
            clock.at += timedelta(seconds=10)
        for api in (one, two):
            for key in (WRONG, good.key):  # even a good key: no answer tells a right guess
                refused = await attempt(api, key)
                assert refused.status_code == 429
                # The window opened at the first failure, 40 s ago: 260 s left (rounded up).
                assert refused.headers["retry-after"] == "261"

        clock.at = NOW + LIMIT.window  # the window closes
        assert (await attempt(two, good.key)).status_code == 404  # the key is good, the letter unknown
        assert (await attempt(one, WRONG)).status_code == 401  # a failure opens a new window
    assert await PgAuthFailures(lambda: pools[1]).window("127.0.0.1") == FailureWindow(clock.at, 1)


async def test_failures_at_once_on_both_replicas_are_each_counted(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    clock = Clock()
    async with replica(pools[0], clock) as one, replica(pools[1], clock) as two:
        answers = await asyncio.gather(*(attempt(api, WRONG) for api in (one, two) * 8))

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * LIMIT.failures + [429] * (16 - LIMIT.failures)
    window = await PgAuthFailures(lambda: pools[0]).window("127.0.0.1")
    assert window is not None and window.failures >= LIMIT.failures


async def test_the_sweeper_forgets_closed_windows_only(pools: tuple[asyncpg.Pool, asyncpg.Pool]) -> None:
    failures = PgAuthFailures(lambda: pools[0])
    await failures.count("198.51.100.7", NOW, LIMIT)
    await failures.count("203.0.113.9", NOW + timedelta(minutes=2), LIMIT)
    await failures.count("203.0.113.9", NOW + timedelta(minutes=6), LIMIT)  # still its first window

    assert await failures.forget(NOW + timedelta(minutes=6) - LIMIT.window) == 1
    assert await failures.window("198.51.100.7") is None
    assert await failures.window("203.0.113.9") == FailureWindow(NOW + timedelta(minutes=2), 2)
