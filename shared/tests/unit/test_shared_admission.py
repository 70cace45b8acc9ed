"""The admission gate: a limit on requests at work, the rest served in arrival order."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message, Receive, Scope, Send

from lre_shared.admission import FairGate
from lre_shared.metrics import HTTP_REQUESTS


class Recorder:
    """An application whose requests each wait for their own release."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.inside = 0
        self.most_inside = 0
        self.release: dict[str, asyncio.Event] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"]
        self.started.append(name)
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        try:
            await self.release.setdefault(name, asyncio.Event()).wait()
        finally:
            self.inside -= 1


async def nothing() -> Message:
    return {"type": "http.request", "body": b""}


async def ignore(message: Message) -> None:
    pass


def request(gate: FairGate, path: str) -> asyncio.Task[None]:
    return asyncio.create_task(gate({"type": "http", "path": path}, nothing, ignore))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def gauge(state: str) -> float:
    value = HTTP_REQUESTS.labels(state=state)._value.get()
    assert isinstance(value, float)
    return value


async def test_no_more_than_the_limit_work_at_once_and_the_rest_enter_in_arrival_order() -> None:
    app = Recorder()
    gate = FairGate(app, limit=2)
    names = [f"/{i}" for i in range(6)]
    tasks = []
    for name in names:
        tasks.append(request(gate, name))
        await settle()
    assert app.started == names[:2]

    for name in names:
        app.release.setdefault(name, asyncio.Event()).set()
        await settle()
    await asyncio.gather(*tasks)

    assert app.started == names
    assert app.most_inside == 2
    assert gate.inside == 0 and not gate.waiting


async def test_a_freed_place_goes_to_the_longest_waiting_request_not_to_a_newcomer() -> None:
    app = Recorder()
    gate = FairGate(app, limit=1)
    first, waiting = request(gate, "/first"), None
    await settle()
    waiting = request(gate, "/waiting")
    await settle()

    app.release["/first"].set()
    newcomer = request(gate, "/newcomer")  # arrives in the same turn of the loop as the release
    await settle()

    assert app.started == ["/first", "/waiting"]
    app.release["/waiting"].set()
    app.release.setdefault("/newcomer", asyncio.Event()).set()
    await asyncio.gather(first, waiting, newcomer)
    assert app.started == ["/first", "/waiting", "/newcomer"]


async def test_a_visitor_leaving_while_waiting_gives_up_the_turn_without_losing_a_place() -> None:
    app = Recorder()
    gate = FairGate(app, limit=1)
    first = request(gate, "/first")
    await settle()
    gone, after = request(gate, "/gone"), None
    await settle()
    after = request(gate, "/after")
    await settle()
    waiting_before = gauge("waiting")

    gone.cancel()
    await settle()
    assert gauge("waiting") == waiting_before - 1
    app.release["/first"].set()
    await settle()
    assert app.started == ["/first", "/after"]
    app.release["/after"].set()
    await asyncio.gather(first, after)
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert gate.inside == 0 and not gate.waiting


async def test_a_place_given_as_the_visitor_leaves_passes_to_the_next() -> None:
    app = Recorder()
    gate = FairGate(app, limit=1)
    first = request(gate, "/first")
    await settle()
    gone = request(gate, "/gone")
    after = request(gate, "/after")
    await settle()

    app.release["/first"].set()
    await asyncio.sleep(0)  # /first leaves and hands its place to /gone, not yet resumed
    gone.cancel()
    await settle()

    assert app.started == ["/first", "/after"]
    app.release["/after"].set()
    await asyncio.gather(first, after, return_exceptions=True)
    assert gone.cancelled()
    assert gate.inside == 0 and not gate.waiting


async def test_the_gauges_count_requests_working_and_waiting() -> None:
    app = Recorder()
    gate = FairGate(app, limit=1)
    working, waiting = gauge("working"), gauge("waiting")
    tasks = [request(gate, "/a"), request(gate, "/b")]
    await settle()
    assert (gauge("working"), gauge("waiting")) == (working + 1, waiting + 1)
    for name in ("/a", "/b"):
        app.release.setdefault(name, asyncio.Event()).set()
    await asyncio.gather(*tasks)
    assert (gauge("working"), gauge("waiting")) == (working, waiting)


async def test_lifespan_and_other_scopes_pass_without_waiting() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    gate = FairGate(app, limit=1)
    gate.inside = 1  # full
    await asyncio.wait_for(gate({"type": "lifespan"}, nothing, ignore), 1)
    assert seen == ["lifespan"]


def test_a_gate_that_lets_nobody_in_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        FairGate(Recorder(), limit=0)
