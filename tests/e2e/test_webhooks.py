"""Webhooks on the real parts: the archive as its own process on RabbitMQ, PostgreSQL and S3,
a sender's endpoint registered with `lre-senders webhook set`, and a real HTTP receiver that
is down (its port closed) while the first events come, then up.

Every event reaches the receiver exactly once per event id (at least once over HTTP, never
again after a 2xx), every delivery verifies with `lre_shared.webhooks.verify`, a tampered or
replayed one does not, the delivery log shows the failed attempts, and a ping is answered.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deploy.local import platform
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import Document, SenderEvent, SenderEventKind, SubmitLetter
from lre_shared.sender import submit_letter
from lre_shared.topology import SENDERS_EVENTS_EXCHANGE
from lre_shared.webhooks import WebhookRefused, verify, verify_payload
from tests.support import infra
from tests.support.bus import declare_exchange, eventually
from tests.support.running import RunningPlatform

pytestmark = pytest.mark.e2e

SENDER = "acme"
OTHER_SENDER = "globex"  # no endpoint: its events are never sent
LRE_SENDERS = Path(sys.executable).parent / "lre-senders"
# Short waits, so that a receiver down for seconds sees several attempts.
WEBHOOK_ENV = {
    "ARCHIVE_WEBHOOK_ALLOW_HTTP": "true",
    "ARCHIVE_WEBHOOK_ALLOW_PRIVATE": "true",
    "ARCHIVE_WEBHOOK_RETRY_SECONDS": "[0.5, 0.5, 1]",
    "ARCHIVE_WEBHOOK_RETRY_EVERY_SECONDS": "1",
    "ARCHIVE_WEBHOOK_POLL_SECONDS": "0.2",
}


@dataclass
class Received:
    at: datetime
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A sender system's endpoint: keeps every request, answers 200."""

    port: int
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/lre/webhooks"

    def ids(self) -> Counter[str]:
        return Counter(r.headers["webhook-id"] for r in self.requests)

    @asynccontextmanager
    async def up(self) -> AsyncIterator[None]:
        async def take(request: Request) -> Response:
            self.requests.append(Received(datetime.now(UTC), dict(request.headers), await request.body()))
            return Response(status_code=200)

        app = Starlette(routes=[Route("/lre/webhooks", take, methods=["POST"])])
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, lifespan="off")
        )
        serving = asyncio.create_task(server.serve())
        await eventually(lambda: server.started)
        try:
            yield
        finally:
            server.should_exit = True
            await serving


def lre_senders(services: RunningPlatform, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`lre-senders` as an operator runs it, with the archive's settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    environment |= platform.service_environment(services.config, "archive") | WEBHOOK_ENV | env
    return subprocess.run(
        [str(LRE_SENDERS), *argv], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


async def run_lre_senders(
    services: RunningPlatform, *argv: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(lre_senders, services, *argv, **env)


async def publish_events(amqp_url: str, *events: SenderEvent) -> None:
    """Publish as the archive's outbox does: on `lre.senders.events`, keyed `<sender>.<event>`."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_exchange(channel, SENDERS_EVENTS_EXCHANGE)
        for event in events:
            await exchange.publish(
                aio_pika.Message(
                    event.to_json(),
                    message_id=str(event.message_id),
                    correlation_id=str(event.correlation_id),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=event.sender_key,
                mandatory=True,
            )


def letter_events(sender_id: str) -> list[SenderEvent]:
    """Four facts of one letter, in order."""
    letter = uuid.uuid4()
    at = datetime.now(UTC)
    kinds = (
        SenderEventKind.deposited,
        SenderEventKind.notice_sent,
        SenderEventKind.accepted,
        SenderEventKind.receipt_signed,
    )
    return [
        SenderEvent(
            correlation_id=letter,
            sender_id=sender_id,
            event=kind,
            sequence=n,
            item_number="1A00000000017",
            event_time=at + timedelta(seconds=n),
            channel="email" if kind is SenderEventKind.notice_sent else None,
        )
        for n, kind in enumerate(kinds, start=1)
    ]


@pytest.fixture(scope="module")
def archive(services: RunningPlatform) -> RunningPlatform:
    services.start("archive", WEBHOOK_ENV)
    return services


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    return Receiver(infra.free_port_block(1, 20000, 32000))


@pytest.fixture(scope="module")
def secret(archive: RunningPlatform, receiver: Receiver) -> str:
    done = lre_senders(archive, "webhook", "set", SENDER, receiver.url)
    assert done.returncode == 0, done.stderr
    assert "shown once" in done.stderr
    return done.stdout.strip()


async def test_an_endpoint_off_the_internet_or_in_plain_http_is_refused(archive: RunningPlatform) -> None:
    private = await run_lre_senders(
        archive, "webhook", "set", "initech", "https://127.0.0.1/hook", ARCHIVE_WEBHOOK_ALLOW_PRIVATE="false"
    )
    assert private.returncode == 2
    assert "loopback, link-local, private or reserved" in private.stderr
    plain = await run_lre_senders(
        archive, "webhook", "set", "initech", "http://hooks.example/", ARCHIVE_WEBHOOK_ALLOW_HTTP="false"
    )
    assert plain.returncode == 2
    assert "https://" in plain.stderr


async def test_events_reach_a_receiver_that_comes_up_late_once_each_and_signed(
    archive: RunningPlatform, receiver: Receiver, secret: str
) -> None:
    assert secret.startswith("whsec_")
    ours = letter_events(SENDER) + letter_events(SENDER) + letter_events(SENDER)
    theirs = letter_events(OTHER_SENDER)
    # The broker may hand an event over twice: the archive's inbox makes it one delivery.
    await publish_events(archive.amqp_url, *ours, ours[0], *theirs)

    # The receiver is down: every delivery fails, is recorded, and is tried again.
    async def failed_twice() -> bool:
        log = await run_lre_senders(archive, "webhook", "log", SENDER, "--limit", "50")
        lines = log.stdout.splitlines()
        return (
            len(lines) == len(ours)
            and all("next attempt" in line for line in lines)
            and all(int(line.split("attempts")[1].split()[0]) >= 2 for line in lines)
        )

    await eventually(failed_twice, timeout=60)
    log = (await run_lre_senders(archive, "webhook", "log", SENDER, "--limit", "50")).stdout
    assert "ConnectError" in log, log
    assert receiver.requests == []

    async with receiver.up():
        await eventually(lambda: set(receiver.ids()) == {str(e.message_id) for e in ours}, timeout=60)
        await asyncio.sleep(4)  # several dispatcher runs and retry periods: nothing comes again
    counts = receiver.ids()
    assert sorted(counts.values()) == [1] * len(ours), counts

    sent = {str(e.message_id): e for e in ours}
    for request in receiver.requests:
        assert request.headers["content-type"] == "application/json"
        event = verify(secret, request.headers, request.body, now=request.at)
        assert event == sent[request.headers["webhook-id"]]

    log = (await run_lre_senders(archive, "webhook", "log", SENDER, "--limit", "50")).stdout
    assert log.count("delivered") == len(ours), log
    assert all(int(line.split("attempts")[1].split()[0]) >= 3 for line in log.splitlines()), log

    # What the receiver refuses with the shipped helper.
    first = receiver.requests[0]
    with pytest.raises(WebhookRefused) as tampered:
        verify(secret, first.headers, first.body.replace(b'"acme"', b'"acmf"'), now=first.at)
    assert tampered.value.reason == "signature"
    with pytest.raises(WebhookRefused) as replayed:
        verify(secret, first.headers, first.body, now=first.at, seen=set(counts))
    assert replayed.value.reason == "replayed"
    with pytest.raises(WebhookRefused) as late:
        verify(secret, first.headers, first.body, now=first.at + timedelta(minutes=10))
    assert late.value.reason == "timestamp"


async def test_a_ping_is_signed_and_its_answer_printed(
    archive: RunningPlatform, receiver: Receiver, secret: str
) -> None:
    async with receiver.up():
        before = len(receiver.requests)
        done = await run_lre_senders(archive, "webhook", "ping", SENDER)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "ping answered HTTP 200" in done.stdout
    ping = receiver.requests[before]
    assert b'"type": "ping"' in verify_payload(secret, ping.headers, ping.body, now=ping.at)
    down = await run_lre_senders(archive, "webhook", "ping", SENDER)
    assert down.returncode == 1
    assert "ping failed: ConnectError" in down.stdout


async def test_a_deposited_letter_is_told_by_webhook(
    archive: RunningPlatform, receiver: Receiver, secret: str
) -> None:
    """The archive's own sender events (its relay to `lre.senders.events`) take the same way."""
    done = lre_senders(archive, "webhook", "set", DEMO_SENDER.id, receiver.url)
    assert done.returncode == 0, done.stderr
    demo_secret = done.stdout.strip() or secret
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="mise-en-demeure.pdf", content=demo_pdf()),
    )
    async with receiver.up():
        await submit_letter(archive.amqp_url, command)

        def told() -> list[SenderEvent]:
            events = []
            for request in receiver.requests:
                try:
                    events.append(verify(demo_secret, request.headers, request.body, now=request.at))
                except WebhookRefused:
                    continue
            return [e for e in events if e.correlation_id == command.correlation_id]

        await eventually(lambda: any(e.event is SenderEventKind.deposited for e in told()), timeout=60)


async def test_a_removed_endpoint_gets_nothing_more(
    archive: RunningPlatform, receiver: Receiver, secret: str
) -> None:
    assert (await run_lre_senders(archive, "webhook", "remove", SENDER)).returncode == 0
    before = time.monotonic()
    async with receiver.up():
        count = len(receiver.requests)
        await publish_events(archive.amqp_url, *letter_events(SENDER))
        await asyncio.sleep(3)
        assert len(receiver.requests) == count
    assert time.monotonic() - before >= 3
    assert (await run_lre_senders(archive, "webhook", "remove", SENDER)).returncode == 1
