"""Admission control for a service's web application: at most so many requests at work at
once, the others waiting their turn, first come, first served.

Under load, an asyncio server otherwise works on every request it has read, a slice at a
time: a request that waits on the database several times goes round the queue several
times, and tasks waiting for one of the pool's connections can be overtaken by newcomers
again and again. The slowest answers then take many times the average. With a gate in
front, the requests inside never outnumber the database connections and finish quickly;
the rest wait in arrival order, and every visitor waits about as long as the others.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from lre_shared.metrics import HTTP_REQUESTS


class FairGate:
    """ASGI middleware letting at most `limit` HTTP requests into `app` at once, in the
    order they arrived. A freed place goes straight to the longest-waiting request, so no
    newcomer can take it first."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        if limit < 1:
            raise ValueError("the gate must let at least one request in")
        self.app = app
        self.limit = limit
        self.inside = 0
        self.waiting: deque[asyncio.Future[None]] = deque()
        self._working = HTTP_REQUESTS.labels(state="working")
        self._queued = HTTP_REQUESTS.labels(state="waiting")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self._enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self._leave()

    async def _enter(self) -> None:
        if self.inside < self.limit and not self.waiting:
            self.inside += 1
            self._working.inc()
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        self._queued.inc()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._leave()  # given a place as the visitor left: it goes to the next one
            elif turn in self.waiting:
                self.waiting.remove(turn)
            raise
        finally:
            self._queued.dec()

    def _leave(self) -> None:
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the place passes on: `inside` stays as it is
                return
        self.inside -= 1
        self._working.dec()
