"""Admission control for a service's web application: at most so many requests at work at
once, the others waiting their turn, first come, first served.

Under load, an asyncio server otherwise works on every request it has read, a slice at a
time: a request that waits on the database several times goes round the queue several
times, and tasks waiting for one of the pool's connections can be overtaken by newcomers
again and again. The slowest answers then take many times the average. With a gate in
front, the requests inside never outnumber the database connections and finish quickly;
the rest wait in arrival order, and every visitor waits about as long as the others.

A place is held only while the application works, never while a client is slow: a request
body (up to `max_buffered` bytes) is read in full before the request queues, and the place
is given up as soon as the response starts, so a visitor on a slow line neither holds one
while sending a form nor while a long download streams to them. Bodies larger than that, or
of unknown length (uploads of identity documents and signed receipts), go in without
waiting their turn, as they would with no gate.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lre_shared.metrics import HTTP_REQUESTS


class FairGate:
    """ASGI middleware letting at most `limit` HTTP requests into `app` at once, in the
    order they arrived. A freed place goes straight to the longest-waiting request, so no
    newcomer can take it first."""

    def __init__(self, app: ASGIApp, limit: int, max_buffered: int = 64 * 1024) -> None:
        if limit < 1:
            raise ValueError("the gate must let at least one request in")
        self.app = app
        self.limit = limit
        self.max_buffered = max_buffered
        self.inside = 0
        self.waiting: deque[asyncio.Future[None]] = deque()
        self._working = HTTP_REQUESTS.labels(state="working")
        self._queued = HTTP_REQUESTS.labels(state="waiting")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._bounded(scope):
            await self.app(scope, receive, send)
            return
        body = await self._read_body(receive)
        if body is None:  # the client left while sending
            return
        await self._enter()
        inside = True

        def leave() -> None:
            nonlocal inside
            if inside:
                inside = False
                self._leave()

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send_and_leave(message: Message) -> None:
            if message["type"] == "http.response.start":
                leave()  # the work is done; writing the answer out waits for no place
            await send(message)

        try:
            await self.app(scope, replay, send_and_leave)
        finally:
            leave()

    def _bounded(self, scope: Scope) -> bool:
        """Whether the request's body is small enough to be read before it queues."""
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                return value.isdigit() and int(value) <= self.max_buffered
            if name == b"transfer-encoding":
                return False
        return True  # no body

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

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
