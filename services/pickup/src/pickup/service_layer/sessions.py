"""The site's sessions, kept server-side so that one can be ended.

The cookie is signed, so it cannot be forged, but a copy of it stays valid for as long as
its signature does. The cookie therefore names a session row, and a session is live only
while its row is there and was seen within the idle time: signing out deletes the row, and
any copy of the cookie then carries nothing. A new session is started at each step that
grants something (item number, identity), so an id known before a step is worth nothing
after it.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import asyncpg

# Seen this recently: not written again, so that a page costs one read, not one write.
SEEN_GRAIN = timedelta(minutes=1)


async def begin(pool: asyncpg.Pool, idle: timedelta, previous: str | None = None) -> str:
    """A new session's id; `previous`, the one it replaces, ends. Sessions idle past `idle`
    go at the same time: nothing else keeps the table from growing."""
    session_id = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        if previous is not None:
            await conn.execute("DELETE FROM site_sessions WHERE session_id = $1", previous)
        await conn.execute("DELETE FROM site_sessions WHERE seen_at < now() - $1::interval", idle)
        await conn.execute("INSERT INTO site_sessions (session_id) VALUES ($1)", session_id)
    return session_id


async def live(pool: asyncpg.Pool, session_id: str, idle: timedelta) -> bool:
    """Whether the session has neither ended nor been idle past `idle`; seen now if so."""
    seen = await pool.fetchval("SELECT now() - seen_at FROM site_sessions WHERE session_id = $1", session_id)
    if seen is None or seen > idle:
        return False
    if seen > SEEN_GRAIN:
        await pool.execute("UPDATE site_sessions SET seen_at = now() WHERE session_id = $1", session_id)
    return True


async def end(pool: asyncpg.Pool, session_id: str) -> None:
    await pool.execute("DELETE FROM site_sessions WHERE session_id = $1", session_id)
