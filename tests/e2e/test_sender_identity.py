"""Who speaks for a sender is the broker's word, not the message's: each sender system
connects as its own broker user (made by `lre-senders add`'s code), the broker checks the AMQP
`user_id` of what it publishes, and the archive and the signer, as separate processes, answer
only about that sender's own letters. Internal exchanges and other senders' queues are out of
a sender user's reach. Internal events are watched by an observer connected as the platform's
own user."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import aiormq
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aiormq.exceptions import DeliveryError

from deploy.local.demo import DEMO_RECIPIENT, demo_pdf
from lre_shared.bus import Publisher, ask
from lre_shared.contracts import (
    Document,
    EvidenceListed,
    GetLetterStatus,
    IssueDownloadLink,
    LetterDeposited,
    LetterRejected,
    LetterStatus,
    ListEvidence,
    RequestUpload,
    Sender,
    SubmitLetter,
    UploadGranted,
)
from lre_shared.sender import SenderClient, _broker
from lre_shared.topology import (
    SENDERS_COMMANDS_EXCHANGE,
    SENDERS_EVENTS_EXCHANGE,
    Service,
    events_exchange,
    sender_queue,
)
from tests.support.bus import Probe, eventually, open_probe
from tests.support.running import RunningPlatform
from tests.support.senders import SenderUser, sender_user

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform_running(services: RunningPlatform) -> RunningPlatform:
    # The two services that answer senders: the archive (deposits, uploads, status) and the
    # signer (evidence).
    services.start("archive")
    services.start("signer")
    return services


@pytest.fixture
async def alice(platform_running: RunningPlatform) -> AsyncIterator[SenderUser]:
    async with sender_user(platform_running.amqp_url) as made:
        yield made


@pytest.fixture
async def bob(platform_running: RunningPlatform) -> AsyncIterator[SenderUser]:
    async with sender_user(platform_running.amqp_url) as made:
        yield made


@pytest.fixture
async def observer(platform_running: RunningPlatform) -> AsyncIterator[Probe]:
    """The archive's events, as the platform's own user sees them."""
    async with open_probe(
        platform_running.amqp_url, (events_exchange(Service.archive), "letter.*.v1")
    ) as probe:
        yield probe


def letter_of(sender_id: str) -> SubmitLetter:
    return SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=Sender(id=sender_id, name="Cabinet Exemple", email="greffe@cabinet.example"),
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="lettre.pdf", content=demo_pdf("Lettre " + uuid.uuid4().hex)),
    )


async def deposit_as(user: SenderUser, command: SubmitLetter) -> None:
    """Publish to the senders' exchange with the user's own `user_id`, as `SenderClient` does."""
    broker = _broker(user.amqp_url)
    await broker.connect()
    try:
        await Publisher(broker).publish(command, exchange=SENDERS_COMMANDS_EXCHANGE, user_id=user.sender_id)
    finally:
        await broker.stop()


async def ask_as(user: SenderUser, query: object, answer: type[object]) -> object:
    broker = _broker(user.amqp_url)
    await broker.connect()
    try:
        return await ask(
            broker,
            query,  # type: ignore[arg-type]
            answer,  # type: ignore[arg-type]
            timeout=30.0,
            exchange=SENDERS_COMMANDS_EXCHANGE,
            user_id=user.sender_id,
        )
    finally:
        await broker.stop()


async def deposited(user: SenderUser, observer: Probe) -> LetterDeposited:
    command = letter_of(user.sender_id)
    await deposit_as(user, command)
    found = await observer.wait_for(LetterDeposited.routing_key, command.correlation_id, timeout=60)
    return LetterDeposited.model_validate_json(found.body)


async def refused(
    user: SenderUser, act: Callable[[AbstractChannel], Awaitable[object]]
) -> aiormq.exceptions.AMQPError:
    """Run `act` on a channel of the user's own; the broker's refusal closes it (a fresh one each)."""
    connection: AbstractRobustConnection = await aio_pika.connect_robust(user.amqp_url)
    try:
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.AMQPError) as caught:
            await act(channel)
        return caught.value
    finally:
        await connection.close()


# ------------------------------------------------------------------------- the broker's word


async def test_the_broker_refuses_a_message_whose_user_id_is_not_the_connections_user(
    alice: SenderUser, bob: SenderUser
) -> None:
    async def forge(channel: AbstractChannel) -> None:
        commands = await channel.get_exchange(SENDERS_COMMANDS_EXCHANGE, ensure=False)
        message = aio_pika.Message(letter_of(bob.sender_id).to_json(), user_id=bob.sender_id)
        await commands.publish(message, routing_key=SubmitLetter.routing_key)
        await asyncio.sleep(1.0)
        await channel.declare_queue(f"lre-send.{alice.sender_id}.{uuid.uuid4()}", exclusive=True)

    error = await refused(alice, forge)

    assert "PRECONDITION_FAILED" in str(error) or "406" in str(error)


async def test_a_deposit_in_another_senders_name_is_refused_to_its_publisher_and_nothing_is_deposited(
    platform_running: RunningPlatform, alice: SenderUser, bob: SenderUser, observer: Probe
) -> None:
    command = letter_of(bob.sender_id)

    await deposit_as(alice, command)

    found = await observer.wait_for(LetterRejected.routing_key, command.correlation_id, timeout=60)
    rejection = LetterRejected.model_validate_json(found.body)
    assert rejection.sender_id == alice.sender_id
    assert [p.field for p in rejection.problems] == ["sender.id"]
    assert bob.sender_id in rejection.problems[0].reason
    assert observer.of(LetterDeposited.routing_key, command.correlation_id) == []
    conn = await asyncpg.connect(platform_running.database_url("archive"))
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM letters WHERE letter_id = $1", command.correlation_id)
            == 0
        )
    finally:
        await conn.close()


async def test_a_malformed_deposit_naming_another_sender_is_refused_to_its_publisher(
    alice: SenderUser, bob: SenderUser, observer: Probe
) -> None:
    command = letter_of(bob.sender_id)
    # An alert channel no contract knows: the deposit does not parse.
    body = command.to_json().replace(b'"alert_channels":["email"]', b'"alert_channels":["pigeon"]')
    assert b"pigeon" in body
    connection = await aio_pika.connect(alice.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        commands = await channel.get_exchange(SENDERS_COMMANDS_EXCHANGE, ensure=False)
        await commands.publish(
            aio_pika.Message(
                body,
                message_id=str(command.message_id),
                correlation_id=str(command.correlation_id),
                user_id=alice.sender_id,
            ),
            routing_key=SubmitLetter.routing_key,
            mandatory=True,
        )

    found = await observer.wait_for(LetterRejected.routing_key, command.correlation_id, timeout=60)
    rejection = LetterRejected.model_validate_json(found.body)
    assert rejection.sender_id == alice.sender_id
    assert "sender.id" in [p.field for p in rejection.problems]


async def test_a_sender_deposits_as_itself_and_asks_where_its_letter_stands_by_direct_reply_to(
    alice: SenderUser, observer: Probe
) -> None:
    async with SenderClient(alice.amqp_url, alice.sender_id, timeout=30.0) as client:
        command = letter_of(alice.sender_id)
        await client.send(command)
        await observer.wait_for(LetterDeposited.routing_key, command.correlation_id, timeout=60)
        status = await client.status(command.correlation_id)

    assert (status.state, status.letter_id) == ("deposited", command.correlation_id)


# ------------------------------------------------------------------- only its own letters


async def test_a_sender_learns_nothing_of_another_senders_letter_status(
    alice: SenderUser, bob: SenderUser, observer: Probe
) -> None:
    letter = await deposited(bob, observer)

    def query(sender_id: str) -> GetLetterStatus:
        return GetLetterStatus(correlation_id=letter.correlation_id, sender_id=sender_id)

    as_bob = await ask_as(alice, query(bob.sender_id), LetterStatus)
    as_herself = await ask_as(alice, query(alice.sender_id), LetterStatus)
    owner = await ask_as(bob, query(bob.sender_id), LetterStatus)

    assert isinstance(as_bob, LetterStatus) and isinstance(as_herself, LetterStatus)
    assert (as_bob.state, as_bob.item_number) == ("unknown", None)
    assert (as_herself.state, as_herself.item_number) == ("unknown", None)
    assert isinstance(owner, LetterStatus) and owner.item_number == letter.item_number


async def test_a_sender_lists_no_evidence_of_another_senders_letter(
    alice: SenderUser, bob: SenderUser, observer: Probe
) -> None:
    letter = await deposited(bob, observer)

    async def listed(user: SenderUser, sender_id: str | None) -> EvidenceListed:
        query = ListEvidence(correlation_id=letter.correlation_id, sender_id=sender_id)
        answer = await ask_as(user, query, EvidenceListed)
        assert isinstance(answer, EvidenceListed)
        return answer

    async def recorded() -> bool:
        return len((await listed(bob, bob.sender_id)).records) > 0

    await eventually(recorded, timeout=60)

    assert (await listed(alice, bob.sender_id)).records == ()
    assert (await listed(alice, None)).records == ()
    assert (await listed(alice, alice.sender_id)).records == ()


async def test_a_sender_gets_no_upload_for_another_sender(alice: SenderUser, bob: SenderUser) -> None:
    query = RequestUpload(
        correlation_id=uuid.uuid4(), sender_id=bob.sender_id, filename="annexe.pdf", size=10
    )

    grant = await ask_as(alice, query, UploadGranted)

    assert isinstance(grant, UploadGranted)
    assert (grant.upload_id, grant.url) == (None, "")
    assert grant.reason is not None and "sender" in grant.reason


async def test_a_command_no_sender_may_send_comes_back_unroutable(alice: SenderUser) -> None:
    query = IssueDownloadLink(correlation_id=uuid.uuid4(), document_id=uuid.uuid4())
    broker = _broker(alice.amqp_url)
    await broker.connect()
    try:
        with pytest.raises(DeliveryError):
            await Publisher(broker).publish(
                query, exchange=SENDERS_COMMANDS_EXCHANGE, user_id=alice.sender_id
            )
    finally:
        await broker.stop()


# ------------------------------------------------------------------------ out of its reach


@pytest.mark.parametrize("internal", [events_exchange(Service.archive), events_exchange(Service.signer)])
async def test_a_sender_cannot_bind_a_queue_to_an_internal_exchange(alice: SenderUser, internal: str) -> None:
    async def bind(channel: AbstractChannel) -> None:
        queue = await channel.declare_queue(f"lre-send.{alice.sender_id}.{uuid.uuid4()}", exclusive=True)
        await queue.bind(internal, routing_key="#")

    assert "ACCESS_REFUSED" in str(await refused(alice, bind))


async def test_a_sender_cannot_declare_a_queue_outside_its_own_prefix(
    alice: SenderUser, bob: SenderUser
) -> None:
    for name in (f"archive.{uuid.uuid4()}", f"lre-send.{bob.sender_id}.{uuid.uuid4()}"):

        async def declare(channel: AbstractChannel, name: str = name) -> None:
            await channel.declare_queue(name, exclusive=True)

        assert "ACCESS_REFUSED" in str(await refused(alice, declare))


async def test_a_sender_cannot_consume_another_senders_queue(alice: SenderUser, bob: SenderUser) -> None:
    async def consume(channel: AbstractChannel) -> None:
        queue = await channel.get_queue(sender_queue(bob.sender_id), ensure=False)
        await queue.get(no_ack=True, fail=False)

    assert "ACCESS_REFUSED" in str(await refused(alice, consume))


async def test_a_sender_binds_its_own_queue_to_its_own_events_only(
    alice: SenderUser, bob: SenderUser
) -> None:
    def bind_to(routing_key: str) -> Callable[[AbstractChannel], Awaitable[None]]:
        async def bind(channel: AbstractChannel) -> None:
            queue = await channel.declare_queue(f"lre-send.{alice.sender_id}.{uuid.uuid4()}", exclusive=True)
            await queue.bind(SENDERS_EVENTS_EXCHANGE, routing_key=routing_key)

        return bind

    assert "ACCESS_REFUSED" in str(await refused(alice, bind_to(f"{bob.sender_id}.#")))
    assert "ACCESS_REFUSED" in str(await refused(alice, bind_to("#")))
    connection = await aio_pika.connect(alice.amqp_url)
    async with connection:
        channel = await connection.channel()
        await bind_to(f"{alice.sender_id}.#")(channel)  # its own events: allowed
        own = await channel.get_queue(sender_queue(alice.sender_id), ensure=False)
        waiting = await own.get(no_ack=False, fail=False)  # its own queue: readable
        if waiting is not None:
            await waiting.nack(requeue=True)
