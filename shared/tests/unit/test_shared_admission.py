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


def waiting_body() -> tuple[Receive, asyncio.Event]:
    """A client still sending its body until `done` is set."""
    done = asyncio.Event()

    async def receive() -> Message:
        await done.wait()
        return {"type": "http.request", "body": b"item_number=1", "more_body": False}

    return receive, done


async def test_a_client_slow_to_send_its_form_holds_no_place() -> None:
    app = Recorder()
    gate = FairGate(app, limit=1)
    slow_receive, sent = waiting_body()
    slow = asyncio.create_task(gate({"type": "http", "path": "/slow", "headers": []}, slow_receive, ignore))
    await settle()

    other = request(gate, "/other")
    await settle()

    assert app.started == ["/other"]
    sent.set()
    await settle()
    assert app.started == ["/other"]  # now it waits its turn
    app.release["/other"].set()
    await settle()
    assert app.started == ["/other", "/slow"]
    app.release["/slow"].set()
    await asyncio.gather(slow, other)


async def test_the_application_reads_the_body_the_client_sent_then_what_follows() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b"a=1&", "more_body": True},
        {"type": "http.request", "body": b"b=2", "more_body": False},
        {"type": "http.disconnect"},
    ]
    seen: list[Message] = []

    async def client() -> Message:
        return messages.pop(0)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())
        seen.append(await receive())

    await FairGate(app, limit=1)({"type": "http", "path": "/", "headers": []}, client, ignore)

    assert seen == [
        {"type": "http.request", "body": b"a=1&b=2", "more_body": False},
        {"type": "http.disconnect"},
    ]


async def test_a_client_gone_before_its_body_arrived_is_not_served() -> None:
    called: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope["path"])

    async def gone() -> Message:
        return {"type": "http.disconnect"}

    gate = FairGate(app, limit=1)
    await gate({"type": "http", "path": "/", "headers": []}, gone, ignore)
    assert called == [] and gate.inside == 0


async def test_the_place_is_given_up_when_the_answer_starts_not_when_it_is_all_sent() -> None:
    streaming = asyncio.Event()
    finish = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/zip":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            streaming.set()
            await finish.wait()  # a long download, written out slowly
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    gate = FairGate(app, limit=1)
    download = asyncio.create_task(gate({"type": "http", "path": "/zip", "headers": []}, nothing, ignore))
    await streaming.wait()

    await asyncio.wait_for(gate({"type": "http", "path": "/page", "headers": []}, nothing, ignore), 1)

    finish.set()
    await download
    assert gate.inside == 0


@pytest.mark.parametrize(
    "headers",
    [[(b"content-length", b"70000")], [(b"transfer-encoding", b"chunked")]],
    ids=["over the buffered size", "length unknown"],
)
async def test_an_upload_goes_in_without_waiting_its_turn(headers: list[tuple[bytes, bytes]]) -> None:
    app = Recorder()
    gate = FairGate(app, limit=1, max_buffered=64 * 1024)
    first = request(gate, "/first")
    await settle()

    upload = asyncio.create_task(
        gate({"type": "http", "path": "/upload", "headers": headers}, nothing, ignore)
    )
    await settle()

    assert app.started == ["/first", "/upload"]
    app.release["/first"].set()
    app.release["/upload"].set()
    await asyncio.gather(first, upload)
    assert gate.inside == 0
