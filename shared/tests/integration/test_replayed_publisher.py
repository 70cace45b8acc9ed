"""A replayed dead letter speaks for its first publisher, never for the replayer: `lre-dlq
replay` publishes it as its own broker user (which the services trust) and names the original
in `x-lre-original-user-id`, which a consumer believes from a trusted user only. On a real
RabbitMQ, with a sender system's own broker user."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic_settings import SettingsConfigDict

from deploy.local.demo import DEMO_RECIPIENT, demo_pdf
from lre_shared import dlq
from lre_shared.bus import Bus, PermanentError, Publisher, Transaction, broker_user, publisher_user
from lre_shared.contracts import Document, Sender, SubmitLetter
from lre_shared.sender import _broker
from lre_shared.settings import ServiceSettings
from lre_shared.topology import ORIGINAL_USER_HEADER, SENDERS_COMMANDS_EXCHANGE, Service, queue_name
from tests.support.bus import eventually
from tests.support.senders import SenderUser, sender_user

pytestmark = pytest.mark.integration


class ReplaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LRE_REPLAY_TEST_", frozen=True)


class FlakyDeposit:
    """Fails for good until fixed; then notes who the deposit speaks for."""

    def __init__(self) -> None:
        self.fixed = False
        self.publishers: list[str | None] = []

    async def __call__(self, command: SubmitLetter, tx: Transaction) -> None:
        if not self.fixed:
            raise PermanentError("the store is down")
        self.publishers.append(publisher_user())


@pytest.fixture
async def deposits(
    amqp_url: str, database_url: str, messaging_pool: asyncpg.Pool
) -> AsyncIterator[tuple[Bus, FlakyDeposit]]:
    settings = ReplaySettings(
        amqp_url=amqp_url,
        database_url=database_url,
        http_port=0,
        consume_batch=1,
        trusted_publishers=(broker_user(amqp_url),),  # the platform's user, which replays
    )
    bus = Bus(settings, Service.archive, consumer=f"test-replay-{uuid.uuid4().hex[:8]}")
    handler = FlakyDeposit()
    bus.subscribe(SubmitLetter, handler)
    await bus.start(messaging_pool)
    yield bus, handler
    await bus.stop()


@pytest.fixture
async def acme(amqp_url: str) -> AsyncIterator[SenderUser]:
    async with sender_user(amqp_url) as made:
        yield made


def letter(sender_id: str) -> SubmitLetter:
    return SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=Sender(id=sender_id, name="ACME", email="legal@acme.example"),
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="lettre.pdf", content=demo_pdf("Lettre " + uuid.uuid4().hex)),
    )


async def send_as(user: SenderUser, command: SubmitLetter, headers: dict[str, str] | None = None) -> None:
    broker = _broker(user.amqp_url)
    await broker.connect()
    try:
        await Publisher(broker).publish(
            command, headers, exchange=SENDERS_COMMANDS_EXCHANGE, user_id=user.sender_id
        )
    finally:
        await broker.stop()


async def test_a_replayed_deposit_speaks_for_its_sender_not_for_the_replayer(
    deposits: tuple[Bus, FlakyDeposit], acme: SenderUser, amqp_url: str
) -> None:
    bus, handler = deposits
    queue = queue_name(bus.consumer, SubmitLetter)
    await send_as(acme, letter(acme.sender_id))

    async def dead_lettered() -> bool:
        return len(await dlq.list_dead_letters(amqp_url, queue)) == 1

    await eventually(dead_lettered)
    handler.fixed = True

    await dlq.replay(amqp_url, queue, replay_all=True)

    await eventually(lambda: len(handler.publishers) == 1)
    assert handler.publishers == [acme.sender_id]


async def test_a_sender_naming_another_in_the_header_still_speaks_for_itself_once_replayed(
    deposits: tuple[Bus, FlakyDeposit], acme: SenderUser, amqp_url: str
) -> None:
    bus, handler = deposits
    queue = queue_name(bus.consumer, SubmitLetter)
    await send_as(acme, letter("globex"), {ORIGINAL_USER_HEADER: "globex"})

    async def dead_lettered() -> bool:
        return len(await dlq.list_dead_letters(amqp_url, queue)) == 1

    await eventually(dead_lettered)
    handler.fixed = True

    await dlq.replay(amqp_url, queue, replay_all=True)

    await eventually(lambda: len(handler.publishers) == 1)
    assert handler.publishers == [acme.sender_id]
