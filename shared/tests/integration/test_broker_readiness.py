"""A service that cannot reach its broker says why, and within seconds: a broker out of file
descriptors takes TCP connections and never answers them, which would otherwise hold a
service's start, and its readiness probe, without end."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic_settings import SettingsConfigDict

from lre_shared.bus import Bus
from lre_shared.bus.connection import BrokerUnavailable
from lre_shared.bus.probe import broker_problem
from lre_shared.runtime import ServiceRuntime, build_app
from lre_shared.settings import ServiceSettings
from lre_shared.topology import Service

pytestmark = pytest.mark.integration


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LRE_PROBE_TEST_", frozen=True)


@pytest.fixture
async def silent_broker() -> AsyncIterator[str]:
    """A listener that takes connections and never says a word, as a broker out of file
    descriptors does (the kernel completes the TCP handshake; RabbitMQ no longer accepts)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"amqp://guest:guest@127.0.0.1:{port}/"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as s:  # a port nobody listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"amqp://guest:guest@127.0.0.1:{port}/"


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_a_broker_that_takes_connections_but_never_answers_is_named_as_out_of_file_descriptors(
    silent_broker: str,
) -> None:
    reason = await broker_problem(silent_broker, 0.5)

    assert reason is not None
    assert "took the connection but did not answer within 0.5 s" in reason
    assert "out of file descriptors" in reason


async def test_a_broker_that_refuses_connections_is_named_as_such(closed_port_url: str) -> None:
    reason = await broker_problem(closed_port_url, 0.5)

    assert reason is not None and "refused the connection" in reason


async def test_a_broker_that_answers_has_no_problem(amqp_url: str) -> None:
    assert await broker_problem(amqp_url, 2.0) is None


async def test_a_service_whose_broker_never_answers_fails_to_start_in_seconds_saying_why(
    silent_broker: str, database_url: str, messaging_pool: asyncpg.Pool
) -> None:
    settings = ProbeSettings(amqp_url=silent_broker, database_url=database_url, http_port=0)
    bus = Bus(settings, Service.signer, consumer=f"test-probe-{uuid.uuid4().hex[:8]}")
    started = time.monotonic()

    with pytest.raises(BrokerUnavailable, match=r"did not answer within .* out of file descriptors"):
        await bus.prepare(messaging_pool)

    assert time.monotonic() - started < 20  # the connect deadline, then the probe's


async def test_readiness_answers_503_with_the_broker_problem_in_its_body(
    silent_broker: str, database_url: str, messaging_pool: asyncpg.Pool, root_logging: None
) -> None:
    settings = ProbeSettings(amqp_url=silent_broker, database_url=database_url, http_port=0)
    bus = Bus(settings, Service.signer, consumer=f"test-probe-{uuid.uuid4().hex[:8]}")
    runtime = ServiceRuntime(bus=bus, migrations=Path("unused"))
    # As if started, then cut off from the broker: the database answers, the broker does not.
    runtime._pool, runtime.ready = messaging_pool, True
    app = build_app(runtime)

    started = time.monotonic()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        response = await client.get("/health/ready")

    assert response.status_code == 503
    body = json.loads(response.text)
    assert body["status"] == "not ready"
    assert body["reason"].startswith("broker: the broker at 127.0.0.1:")
    assert "out of file descriptors" in body["reason"]
    assert time.monotonic() - started < 10


async def test_readiness_of_a_connected_service_is_ready(
    amqp_url: str, database_url: str, messaging_pool: asyncpg.Pool, root_logging: None
) -> None:
    settings = ProbeSettings(amqp_url=amqp_url, database_url=database_url, http_port=0)
    bus = Bus(settings, Service.signer, consumer=f"test-probe-{uuid.uuid4().hex[:8]}")
    runtime = ServiceRuntime(bus=bus, migrations=Path("unused"))
    app = build_app(runtime)
    await bus.start(messaging_pool)
    try:
        runtime._pool, runtime.ready = messaging_pool, True
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://service"
        ) as client:
            response = await client.get("/health/ready")
    finally:
        await bus.stop()

    assert response.status_code == 200
    assert json.loads(response.text) == {"status": "ready"}
