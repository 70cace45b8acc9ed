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

from pickup.service_layer.ports import Storage

# Seen this recently: not written again, so that a page costs one read, not one write.
SEEN_GRAIN = timedelta(minutes=1)


async def begin(storage: Storage, idle: timedelta, previous: str | None = None) -> str:
    """A new session's id; `previous`, the one it replaces, ends. Sessions idle past `idle`
    go at the same time: nothing else keeps the table from growing."""
    session_id = secrets.token_urlsafe(32)
    async with storage.unit_of_work() as uow:
        if previous is not None:
            await uow.sessions.end(previous)
        await uow.sessions.end_idle(idle)
        await uow.sessions.start(session_id)
    return session_id


async def live(storage: Storage, session_id: str, idle: timedelta) -> bool:
    """Whether the session has neither ended nor been idle past `idle`; seen now if so."""
    seen = await storage.sessions.idle_for(session_id)
    if seen is None or seen > idle:
        return False
    if seen > SEEN_GRAIN:
        await storage.sessions.seen(session_id)
    return True


async def end(storage: Storage, session_id: str) -> None:
    await storage.sessions.end(session_id)
