"""A console left open does not keep its session: the queue's poll, which the console marks
`X-Desk-Background: 1`, is answered while the session lives but does not restart its idle
time in `desk_sessions`; what the agent does (no such header) does. On the desk's own
PostgreSQL, through its HTTP routes, with the console's client configured as in production."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import pytest

from verification.domain.desk_sessions import StaffSession, digest
from verification.entrypoints.desk_auth import SESSION_COOKIE

pytestmark = pytest.mark.integration

IDLE = timedelta(minutes=30)
POLL = timedelta(minutes=5)  # the console polls every 5 s; coarser steps change nothing here
QUEUE = "/desk/api/cases"
BACKGROUND = {"X-Desk-Background": "1"}


@pytest.fixture
async def console_desk(
    start_desk: Callable[..., AbstractAsyncContextManager[Any]],
) -> AsyncIterator[Any]:
    async with start_desk(
        desk_console_client_id="desk-console",
        desk_console_client_secret="s" * 32,
        desk_session_idle_minutes=IDLE.total_seconds() / 60,
    ) as desk:
        yield desk


async def signed_in(desk: Any) -> str:
    """A session as the callback leaves it (the sign-in at the provider is not this test's)."""
    now = desk.clock()
    session = StaffSession(
        subject="staff-agent-" + secrets.token_hex(4),
        name="Alex Agent",
        roles=frozenset({"agent"}),
        csrf_token=secrets.token_urlsafe(32),
        id_token="id-token",
        signed_in_at=now,
        last_seen_at=now,
        ends_at=now + timedelta(hours=8),
    )
    session_id = secrets.token_urlsafe(32)
    assert desk.desk.api.sessions is not None
    await desk.desk.api.sessions.store.add(digest(session_id), session)
    return session_id


async def last_seen(desk: Any, session_id: str) -> datetime | None:
    found: datetime | None = await desk.pool.fetchval(
        "SELECT last_seen_at FROM desk_sessions WHERE session_hash = $1", digest(session_id)
    )
    return found


def cookie(session_id: str) -> dict[str, str]:
    return {"cookie": f"{SESSION_COOKIE}={session_id}"}


async def get(desk: Any, session_id: str, headers: dict[str, str] | None = None) -> Any:
    return await desk.http.get(QUEUE, headers=cookie(session_id) | (headers or {}))


async def test_the_queues_poll_does_not_keep_a_session_past_its_idle_time(console_desk: Any) -> None:
    desk = console_desk
    session_id = await signed_in(desk)
    signed_in_at = desk.clock()
    first = await get(desk, session_id)  # the agent opens the queue
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]

    while desk.clock() + POLL < signed_in_at + IDLE:
        desk.clock.advance(POLL)
        polled = await get(desk, session_id, BACKGROUND | {"if-none-match": etag})
        assert polled.status_code == 304  # answered while the session lives
    assert await last_seen(desk, session_id) == signed_in_at  # never restarted

    desk.clock.advance(signed_in_at + IDLE - desk.clock())
    ended = await get(desk, session_id, BACKGROUND | {"if-none-match": etag})
    assert ended.status_code == 401 and "sign in again" in ended.json()["detail"]
    assert ended.headers["www-authenticate"].startswith("Bearer")
    assert await last_seen(desk, session_id) is None  # the ended session is gone
    assert (await get(desk, session_id)).status_code == 401  # for the agent too
    session = await desk.http.get("/desk/auth/session", headers=cookie(session_id))
    assert session.status_code == 401


async def test_the_agents_requests_keep_a_session_alive_amid_polls(console_desk: Any) -> None:
    desk = console_desk
    session_id = await signed_in(desk)
    signed_in_at = desk.clock()

    for _ in range(3):  # 45 minutes: the agent works, the console polls between
        desk.clock.advance(POLL)
        assert (await get(desk, session_id, BACKGROUND)).status_code == 200
        desk.clock.advance(POLL * 2)
        assert (await get(desk, session_id)).status_code == 200
    assert desk.clock() - signed_in_at > IDLE
    assert await last_seen(desk, session_id) == desk.clock()

    # The idle time runs from the agent's last request, whatever the console polled since.
    agent_at = desk.clock()
    desk.clock.advance(IDLE - POLL)
    assert (await get(desk, session_id, BACKGROUND)).status_code == 200
    assert await last_seen(desk, session_id) == agent_at
    desk.clock.advance(POLL)
    assert (await get(desk, session_id, BACKGROUND)).status_code == 401


async def test_a_bearer_token_is_unaffected_by_the_background_header(console_desk: Any) -> None:
    desk = console_desk
    response = await desk.http.get(QUEUE, headers=desk.auth() | BACKGROUND)
    assert response.status_code == 200
