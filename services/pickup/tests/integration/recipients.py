"""What the pickup integration tests share: the service in-process on the real parts with a
clock the test moves, letters deposited as the archive would, a browser walking the site,
and the other services' answers given by small responders on the bus."""

from __future__ import annotations

import asyncio
import html
import inspect
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage

from deploy.local.demo import DEMO_RECIPIENT
from lre_shared.contracts import (
    LetterDeposited,
    Message,
    NoticeChannel,
    NoticeSent,
    Recipient,
    Reply,
    Sender,
    SendNotice,
    SignatureMethod,
    StoredDocument,
    now_utc,
)
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service, commands_exchange, events_exchange
from pickup.bootstrap import bootstrap
from pickup.entrypoints.site import create_site
from pickup.settings import PickupSettings
from tests.support.bus import Probe, declare_exchange, open_probe, publish, running

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
RIGHT_IDENTITY = {
    "company": "Société Exemple SAS",
    "last_name": "Martin",
    "first_name": "Camille",
    "address": "12 avenue de l'Opéra",
    "postcode": "75001",
    "city": "Paris",
}
WRONG_IDENTITY = {**RIGHT_IDENTITY, "last_name": "Dupont"}


@dataclass
class MovableClock:
    """The service's clock: the real time plus however far the test moved it."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return now_utc() + self.offset

    def move(self, by: timedelta) -> None:
        self.offset += by


@dataclass(frozen=True)
class Pickup:
    runtime: ServiceRuntime
    settings: PickupSettings
    clock: MovableClock
    amqp_url: str

    def browser(self, address: str = "127.0.0.1", headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        """A browser of its own (own cookies) reaching the site from `address`."""
        app = create_site(self.runtime, self.settings, self.clock)
        transport = httpx.ASGITransport(app=app, client=(address, 40123))
        return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)


@asynccontextmanager
async def started_pickup(amqp_url: str, database_url: str, **overrides: Any) -> AsyncIterator[Pickup]:
    settings = PickupSettings(
        amqp_url=amqp_url,
        database_url=database_url,
        http_port=0,
        public_url="https://lre.example/",
        cookie_secure=False,
        outbox_poll_seconds=0.2,
        # A session secret of its own (48 characters), a desk with MMS and fax numbers, a notifier
        # able to send SMS, unless a test says otherwise (replicas of one site share the secret).
        **{
            "session_secret": secrets.token_urlsafe(36),
            "document_channels": ("upload", "email", "mms", "fax"),
            "sms_codes": True,
            **overrides,
        },
    )
    clock = MovableClock()
    async with running(bootstrap(settings, clock), amqp_url) as runtime:
        try:
            yield Pickup(runtime, settings, clock, amqp_url)
        finally:
            await runtime.shutdown()  # the sweeper stops before the pool closes


@pytest.fixture
async def probe(amqp_url: str) -> AsyncIterator[Probe]:
    async with open_probe(
        amqp_url,
        (commands_exchange(Service.notifier), SendNotice.routing_key),
        (events_exchange(Service.pickup), "letter.*.v1"),
        (events_exchange(Service.pickup), "receipt.*.v1"),
    ) as found:
        yield found


@pytest.fixture
async def pickup(amqp_url: str, database_url: str, probe: Probe) -> AsyncIterator[Pickup]:
    async with started_pickup(amqp_url, database_url) as running_pickup:
        yield running_pickup


@pytest.fixture
async def site(pickup: Pickup) -> AsyncIterator[httpx.AsyncClient]:
    async with pickup.browser() as client:
        yield client


# --------------------------------------------------------------------------- letters


def secret_sender() -> Sender:
    tag = uuid.uuid4().hex[:8]
    return Sender(
        id=f"sender-{tag}", name=f"Cabinet Confidentiel {tag}", email=f"greffe-{tag}@cabinet.example"
    )


def deposited(
    sender: Sender | None = None,
    recipient: Recipient = DEMO_RECIPIENT,
    methods: tuple[SignatureMethod, ...] = (SignatureMethod.certificate, SignatureMethod.one_time_code),
) -> LetterDeposited:
    return LetterDeposited(
        correlation_id=uuid.uuid4(),
        item_number=f"{secrets.randbelow(10**12):012d}",
        sender=sender or secret_sender(),
        recipient=recipient,
        documents=(
            StoredDocument(
                document_id=uuid.uuid4(), filename="mise-en-demeure.pdf", size=1234, sha256="a" * 64
            ),
        ),
        verification_policy="default",
        deposited_at=now_utc(),
        signature_methods=methods,
    )


async def deposit(amqp_url: str, pickup: Pickup, event: LetterDeposited | None = None) -> LetterDeposited:
    """Publish a LetterDeposited as the archive would and wait until pickup knows the letter."""
    event = event or deposited()
    await publish(amqp_url, event)
    await wait_for_row(pickup, f"letter_id = '{event.correlation_id}'")
    return event


async def wait_for_row(pickup: Pickup, condition: str, table: str = "letters", timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await pickup.runtime.pool.fetchval(f"SELECT count(*) FROM {table} WHERE {condition}"):  # noqa: S608
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no row of {table} where {condition}")
        await asyncio.sleep(0.05)


def notice_sent(event: LetterDeposited, sent_at: datetime) -> NoticeSent:
    return NoticeSent(
        correlation_id=event.correlation_id,
        notice_id=uuid.uuid4(),
        item_number=event.item_number,
        channel=NoticeChannel.email,
        address=event.recipient.email,
        sent_at=sent_at,
        provider_message_id="<test@lre.example>",
    )


async def record_notice(amqp_url: str, pickup: Pickup, event: LetterDeposited, sent_at: datetime) -> None:
    await publish(amqp_url, notice_sent(event, sent_at))
    await wait_for_row(pickup, f"letter_id = '{event.correlation_id}' AND first_notice_at IS NOT NULL")


# --------------------------------------------------------------------------- browsing


def csrf(page: httpx.Response) -> str:
    match = CSRF.search(page.text)
    assert match, f"no CSRF token on {page.url}"
    return match.group(1)


async def switch_language(site: httpx.AsyncClient, page: httpx.Response, language: str) -> httpx.Response:
    """Press the language switch on `page`, as its form posts it: the page's CSRF token, and
    the page's path to come back to."""
    switched = await site.post(
        f"/langue/{language}", data={"csrf_token": csrf(page), "retour": page.url.path}
    )
    assert switched.status_code == 303, switched.text
    return switched


async def to_identity_page(site: httpx.AsyncClient, item_number: str) -> httpx.Response:
    page = await site.get("/")
    page = await site.post("/", data={"csrf_token": csrf(page), "item_number": item_number})
    assert page.status_code == 303, page.text
    assert page.headers["location"] == "/identite"
    return await site.get("/identite")


async def identified(site: httpx.AsyncClient, item_number: str) -> httpx.Response:
    """Through the item number and identity steps: the decision page."""
    page = await to_identity_page(site, item_number)
    page = await site.post("/identite", data={"csrf_token": csrf(page), **RIGHT_IDENTITY})
    assert page.headers.get("location") == "/decision", page.text
    return await site.get("/decision")


async def accepted(site: httpx.AsyncClient, item_number: str) -> httpx.Response:
    """Through the decision: the page choosing how to sign."""
    page = await identified(site, item_number)
    page = await site.post("/decision", data={"csrf_token": csrf(page), "decision": "accepter"})
    assert page.headers.get("location") == "/signature", page.text
    return await site.get("/signature")


async def send_file(
    site: httpx.AsyncClient, path: str, field_name: str, file: tuple[str, bytes, str]
) -> httpx.Response:
    """Open the page at `path` and post its form with `file` (name, content, type) in `field_name`."""
    page = await site.get(path)
    assert page.status_code == 200, page.text
    return await site.post(path, data={"csrf_token": csrf(page)}, files={field_name: file})


def error_of(page: httpx.Response, field_name: str) -> str:
    """The error message tied to a field (aria-describedby), or fail."""
    tag = re.search(rf'<(?:input|select) id="{field_name}"[^>]*>', page.text, re.DOTALL)
    assert tag, page.text
    described = re.search(r'aria-describedby="([^"]+)"', tag.group(0))
    assert described and f"{field_name}-error" in described.group(1).split(), tag.group(0)
    message = re.search(rf'<p class="error" id="{field_name}-error">([^<]+)</p>', page.text)
    assert message, page.text
    return html.unescape(message.group(1))


# ------------------------------------------------------------------ other services


Answer = Callable[[Any], Reply | Awaitable[Reply | None] | None]


@dataclass
class Responders:
    """Queries received by the test's responders, by type."""

    received: dict[type[Message], list[Any]] = field(default_factory=dict)

    def of(self, query_type: type[Message]) -> list[Any]:
        return self.received.get(query_type, [])


@asynccontextmanager
async def answering(amqp_url: str, answers: dict[type[Message], Answer]) -> AsyncIterator[Responders]:
    """Stand in for other services on the bus: each query of a type in `answers` is kept and
    answered with what its function returns (None: no answer, as a service that is down)."""
    responders = Responders()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for query_type, answer in answers.items():
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            exchange = await declare_exchange(channel, query_type.exchange)
            await queue.bind(exchange, routing_key=query_type.routing_key)

            async def on_message(
                message: AbstractIncomingMessage,
                query_type: type[Message] = query_type,
                answer: Answer = answer,
            ) -> None:
                query = query_type.model_validate_json(message.body)
                responders.received.setdefault(query_type, []).append(query)
                reply = answer(query)
                if inspect.isawaitable(reply):  # a service slow to answer
                    reply = await reply
                if reply is not None and message.reply_to:
                    await channel.default_exchange.publish(
                        aio_pika.Message(
                            reply.to_json(),
                            correlation_id=message.correlation_id,
                            content_type="application/json",
                        ),
                        routing_key=message.reply_to,
                    )

            await queue.consume(on_message, no_ack=True)
        yield responders
    finally:
        await connection.close()
