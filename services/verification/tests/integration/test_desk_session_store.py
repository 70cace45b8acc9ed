"""The console's sign-ins and sessions in PostgreSQL (`PgSessionStore`), on the desk's own
database: what is written is read back field for field, a sign-in is taken once, and ended
sessions and stale sign-ins are forgotten."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from verification.adapters.desk_sessions import PgSessionStore
from verification.domain.desk_sessions import SIGN_IN_WINDOW, PendingSignIn, StaffSession, digest

pytestmark = pytest.mark.integration

IDLE = timedelta(minutes=30)


def _key() -> bytes:
    return digest(secrets.token_urlsafe(32))


async def test_a_sign_in_is_read_back_once(desk: Any) -> None:
    store = PgSessionStore(lambda: desk.pool)
    key = _key()
    pending = PendingSignIn("nonce", "verifier", "/desk/cases", desk.clock())
    await store.add_sign_in(key, pending)

    assert await store.take_sign_in(key) == pending
    assert await store.take_sign_in(key) is None


async def test_a_session_is_read_back_touched_and_forgotten(desk: Any) -> None:
    store = PgSessionStore(lambda: desk.pool)
    now = desk.clock()
    session = StaffSession(
        subject="alice",
        name="Alice",
        roles=frozenset({"supervisor", "agent"}),
        csrf_token="csrf",
        id_token="id-token",
        signed_in_at=now,
        last_seen_at=now,
        ends_at=now + timedelta(hours=8),
    )
    key = _key()
    await store.add(key, session)
    assert await store.get(key) == session

    later = now + timedelta(minutes=5)
    await store.touch(key, later)
    touched = await store.get(key)
    assert touched is not None and touched.last_seen_at == later

    await store.remove(key)
    assert await store.get(key) is None


async def test_ended_sessions_and_stale_sign_ins_are_forgotten(desk: Any) -> None:
    store = PgSessionStore(lambda: desk.pool)
    now = desk.clock()
    idle, live, sign_in = _key(), _key(), _key()
    for key, last_seen in ((idle, now - IDLE), (live, now)):
        await store.add(
            key,
            StaffSession("bob", "Bob", frozenset({"agent"}), "c", "i", now - IDLE, last_seen, now + IDLE),
        )
    await store.add_sign_in(sign_in, PendingSignIn("n", "v", "/desk/", now - SIGN_IN_WINDOW))

    assert await store.remove_ended(now, IDLE) >= 1
    assert await store.get(idle) is None
    assert await store.get(live) is not None
    assert await store.take_sign_in(sign_in) is None
