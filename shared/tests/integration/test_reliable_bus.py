"""The reliable bus against a real RabbitMQ and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from pydantic_settings import SettingsConfigDict

from lre_shared.bus import Bus, Fault, PermanentError, Transaction
from lre_shared.contracts import EvidenceRecorded, LetterAccepted, Message, SendNotice, now_utc
from lre_shared.outbox import enqueue
from lre_shared.settings import ServiceSettings
from lre_shared.topology import (
    DLQ_QUEUE_HEADER,
    DLQ_REASON_HEADER,
    UNROUTED_QUEUE,
    Service,
    dead_letter_queue,
    queue_name,
)
from tests.support import infra
from tests.support.bus import eventually, get_one, publish_raw, queue_depth

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    """A virtual host of this module's own: some tests rely on nobody else consuming a
    routing key (an unroutable command, an event nobody subscribes to)."""
    with infra.rabbitmq_url() as url:
        yield url


class BusSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LRE_BUS_TEST_", frozen=True)


Effect = Callable[[EvidenceRecorded, Transaction], Awaitable[None]]


async def record_effect(event: EvidenceRecorded, tx: Transaction) -> None:
    await tx.conn.execute("INSERT INTO effects (message_id) VALUES ($1)", event.message_id)


@pytest.fixture
def pool(effects_pool: asyncpg.Pool) -> asyncpg.Pool:
    return effects_pool


@pytest.fixture
def consumer() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def start_bus(
    amqp_url: str, database_url: str, pool: asyncpg.Pool, consumer: str
) -> AsyncIterator[Callable[..., Awaitable[Bus]]]:
    buses: list[Bus] = []

    async def start(handler: Effect = record_effect, **overrides: Any) -> Bus:
        settings = BusSettings(
            amqp_url=amqp_url,
            database_url=database_url,
            http_port=0,
            outbox_poll_seconds=0.2,
            **overrides,
        )
        bus = Bus(settings, Service.signer, consumer=consumer)
        bus.subscribe(EvidenceRecorded, handler)
        await bus.start(pool)
        buses.append(bus)
        return bus

    yield start
    for bus in buses:
        await bus.stop()


def evidence(letter_id: uuid.UUID | None = None) -> EvidenceRecorded:
    return EvidenceRecorded(
        correlation_id=letter_id or uuid.uuid4(),
        evidence_id=uuid.uuid4(),
        event="SubmissionAcceptance",
        event_time=now_utc(),
        record_sha256="0" * 64,
        previous_sha256=None,
    )


async def effects(pool: asyncpg.Pool, message: Message) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM effects WHERE message_id = $1", message.message_id)
    return count


async def test_a_message_written_to_the_outbox_is_published_and_its_effect_applied(
    start_bus: Callable[..., Awaitable[Bus]], pool: asyncpg.Pool
) -> None:
    await start_bus()
    message = evidence()
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, message)
    await eventually(lambda: _is(effects(pool, message), 1))
    published = await pool.fetchval(
        "SELECT published_at FROM outbox WHERE message_id = $1", message.message_id
    )
    assert published is not None


async def test_an_outbox_row_rolled_back_with_its_transaction_is_never_published(
    start_bus: Callable[..., Awaitable[Bus]], pool: asyncpg.Pool
) -> None:
    bus = await start_bus()
    ghost, real = evidence(), evidence()

    async def failing_change() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, ghost)
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, real)
    await eventually(lambda: _is(effects(pool, real), 1))
    assert await effects(pool, ghost) == 0
    assert bus.stats.handled == 1


async def test_a_redelivered_message_is_applied_once(
    start_bus: Callable[..., Awaitable[Bus]], pool: asyncpg.Pool, amqp_url: str
) -> None:
    bus = await start_bus()
    message = evidence()
    for _ in range(3):
        await publish_raw(
            amqp_url, message.exchange, message.routing_key, message.to_json(), str(message.message_id)
        )
    await eventually(lambda: _is_value(lambda: bus.stats.handled + bus.stats.duplicates, 3))
    assert await effects(pool, message) == 1
    assert bus.stats.duplicates == 2


async def test_a_malformed_message_is_dead_lettered_with_its_reason_and_the_next_one_is_processed(
    start_bus: Callable[..., Awaitable[Bus]], pool: asyncpg.Pool, amqp_url: str, consumer: str
) -> None:
    await start_bus()
    await publish_raw(
        amqp_url, EvidenceRecorded.exchange, EvidenceRecorded.routing_key, b"{not json", "poison-1"
    )
    good = evidence()
    await publish_raw(amqp_url, good.exchange, good.routing_key, good.to_json(), str(good.message_id))
    await eventually(lambda: _is(effects(pool, good), 1))
    queue = queue_name(consumer, EvidenceRecorded)
    dead = await get_one(amqp_url, dead_letter_queue(queue))
    assert dead.body == b"{not json"
    assert dead.message_id == "poison-1"
    reason = str(dead.headers[DLQ_REASON_HEADER])
    assert "malformed EvidenceRecorded" in reason
    assert dead.headers[DLQ_QUEUE_HEADER] == queue


async def test_a_message_missing_a_required_field_is_dead_lettered_naming_the_field(
    start_bus: Callable[..., Awaitable[Bus]], amqp_url: str, consumer: str
) -> None:
    await start_bus()
    body = evidence().model_dump_json(exclude={"record_sha256"}).encode()
    await publish_raw(amqp_url, EvidenceRecorded.exchange, EvidenceRecorded.routing_key, body, "incomplete")
    dead = await get_one(amqp_url, dead_letter_queue(queue_name(consumer, EvidenceRecorded)))
    assert "record_sha256" in str(dead.headers[DLQ_REASON_HEADER])


async def test_a_permanent_failure_is_dead_lettered_at_once(
    start_bus: Callable[..., Awaitable[Bus]], amqp_url: str, consumer: str
) -> None:
    calls = 0

    async def refuse(event: EvidenceRecorded, tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("letter unknown to this service")

    bus = await start_bus(refuse)
    message = evidence()
    await publish_raw(
        amqp_url, message.exchange, message.routing_key, message.to_json(), str(message.message_id)
    )
    dead = await get_one(amqp_url, dead_letter_queue(queue_name(consumer, EvidenceRecorded)))
    assert dead.headers[DLQ_REASON_HEADER] == "letter unknown to this service"
    assert calls == 1
    assert bus.stats.retried == 0


async def test_a_transient_failure_is_retried_and_then_applied_once(
    start_bus: Callable[..., Awaitable[Bus]], pool: asyncpg.Pool, amqp_url: str
) -> None:
    attempts = 0

    async def flaky(event: EvidenceRecorded, tx: Transaction) -> None:
        nonlocal attempts
        attempts += 1
        await record_effect(event, tx)  # rolled back with the failure below
        if attempts < 3:
            raise ConnectionError("downstream not ready")

    bus = await start_bus(flaky)
    message = evidence()
    await publish_raw(
        amqp_url, message.exchange, message.routing_key, message.to_json(), str(message.message_id)
    )
    await eventually(lambda: _is(effects(pool, message), 1))
    assert attempts == 3
    assert bus.stats.retried == 2
    assert await effects(pool, message) == 1


async def test_a_message_that_keeps_failing_is_dead_lettered_by_the_broker_after_the_delivery_limit(
    start_bus: Callable[..., Awaitable[Bus]], amqp_url: str, consumer: str
) -> None:
    attempts = 0

    async def broken(event: EvidenceRecorded, tx: Transaction) -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionError("still down")

    # No patience: an outage is not waited out in place, each failure returns the message.
    await start_bus(broken, delivery_limit=2, outage_patience_seconds=0)
    message = evidence()
    await publish_raw(
        amqp_url, message.exchange, message.routing_key, message.to_json(), str(message.message_id)
    )
    dead = await get_one(amqp_url, dead_letter_queue(queue_name(consumer, EvidenceRecorded)), timeout=30)
    assert dead.message_id == str(message.message_id)
    assert dead.headers["x-first-death-reason"] == "delivery_limit"
    assert attempts == 3  # the first delivery and two redeliveries


async def test_an_outage_longer_than_every_retry_is_waited_out_in_place_and_the_message_applied_once(
    start_bus: Callable[..., Awaitable[Bus]], pool: asyncpg.Pool, amqp_url: str, consumer: str
) -> None:
    """A part the handler needs is down for longer than the delivery limit's retries would
    last (here: 3 s, with a limit of 1 redelivery): the delivery is tried again where it is,
    never returned, so it is applied once when the part is back, not dead-lettered."""
    attempts = 0
    back_at = asyncio.get_running_loop().time() + 3.0

    async def database_restarting(event: EvidenceRecorded, tx: Transaction) -> None:
        nonlocal attempts
        attempts += 1
        await record_effect(event, tx)  # rolled back with the failure below
        if asyncio.get_running_loop().time() < back_at:
            raise asyncpg.CannotConnectNowError("the database system is starting up")

    bus = await start_bus(database_restarting, delivery_limit=1, outage_patience_seconds=60)
    message = evidence()
    await publish_raw(
        amqp_url, message.exchange, message.routing_key, message.to_json(), str(message.message_id)
    )
    await eventually(lambda: _is(effects(pool, message), 1), timeout=30)
    assert attempts > 2  # more tries than the delivery limit allows deliveries
    assert bus.stats.retried == attempts - 1
    assert bus.stats.dead_lettered == 0
    assert await queue_depth(amqp_url, dead_letter_queue(queue_name(consumer, EvidenceRecorded))) == 0


async def test_an_unroutable_command_stays_in_the_outbox_with_the_error(
    start_bus: Callable[..., Awaitable[Bus]], pool: asyncpg.Pool
) -> None:
    await start_bus()
    # Nobody consumes notifier commands in this virtual host: the broker returns it.
    command = SendNotice(
        correlation_id=uuid.uuid4(),
        item_number="123456789012",
        address="a@b.example",
        deadline=now_utc().date(),
    )
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, command)

    async def failed_once() -> bool:
        row = await pool.fetchrow(
            "SELECT attempts, last_error, published_at FROM outbox WHERE message_id = $1", command.message_id
        )
        return row is not None and row["attempts"] >= 1

    await eventually(failed_once)
    row = await pool.fetchrow(
        "SELECT last_error, published_at FROM outbox WHERE message_id = $1", command.message_id
    )
    assert row["published_at"] is None
    assert "NO_ROUTE" in row["last_error"]


async def test_an_event_nobody_subscribes_to_is_kept_in_the_unrouted_queue(
    start_bus: Callable[..., Awaitable[Bus]], pool: asyncpg.Pool, amqp_url: str
) -> None:
    await start_bus()
    event = LetterAccepted(correlation_id=uuid.uuid4(), item_number="123456789012", accepted_at=now_utc())
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, event)

    async def published() -> bool:
        value = await pool.fetchval("SELECT published_at FROM outbox WHERE message_id = $1", event.message_id)
        return value is not None

    await eventually(published)
    kept = await get_one(amqp_url, UNROUTED_QUEUE)
    while kept.message_id != str(event.message_id):
        kept = await get_one(amqp_url, UNROUTED_QUEUE)
    assert LetterAccepted.model_validate_json(kept.body) == event


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _is_value(value: Callable[[], int], expected: int) -> bool:
    return value() == expected


async def test_a_different_message_under_a_taken_id_is_dead_lettered_saying_so_not_dropped(
    start_bus: Callable[..., Awaitable[Bus]], pool: asyncpg.Pool, amqp_url: str, consumer: str
) -> None:
    bus = await start_bus()
    first = evidence()
    second = first.model_copy(update={"correlation_id": uuid.uuid4()})  # same message_id, other body
    for message in (first, first, second):
        await publish_raw(
            amqp_url, message.exchange, message.routing_key, message.to_json(), str(message.message_id)
        )
    dead = await get_one(amqp_url, dead_letter_queue(queue_name(consumer, EvidenceRecorded)))
    assert dead.body == second.to_json()
    assert "already used by a different message" in str(dead.headers[DLQ_REASON_HEADER])
    assert await effects(pool, first) == 1
    # The true redelivery of the first one; counted once acknowledged, which may come after
    # the dead-lettering when both were handled in one batch.
    await eventually(lambda: _is_value(lambda: bus.stats.duplicates, 1))


async def test_a_different_message_under_a_taken_id_is_refused_once_by_a_subscriber_that_answers(
    amqp_url: str, database_url: str, pool: asyncpg.Pool, consumer: str
) -> None:
    refusals: list[tuple[bytes, tuple[Fault, ...]]] = []

    async def refuse(body: bytes, faults: tuple[Fault, ...], tx: Transaction) -> bool:
        refusals.append((body, faults))
        return True

    settings = BusSettings(amqp_url=amqp_url, database_url=database_url, http_port=0, outbox_poll_seconds=0.2)
    bus = Bus(settings, Service.signer, consumer=consumer)
    bus.subscribe(EvidenceRecorded, record_effect, refuse=refuse)
    await bus.start(pool)
    try:
        first = evidence()
        second = first.model_copy(update={"correlation_id": uuid.uuid4()})
        for message in (first, second, second):  # the reused id, and its redelivery
            await publish_raw(
                amqp_url, message.exchange, message.routing_key, message.to_json(), str(message.message_id)
            )
        await eventually(lambda: _is_value(lambda: bus.stats.handled + bus.stats.duplicates, 3))
    finally:
        await bus.stop()
    assert [body for body, _ in refusals] == [second.to_json()]
    assert refusals[0][1][0].field == "message_id"
    assert await effects(pool, first) == 1


async def test_data_the_database_cannot_hold_is_dead_lettered_at_once_with_its_cause(
    start_bus: Callable[..., Awaitable[Bus]], amqp_url: str, consumer: str
) -> None:
    calls = 0

    async def store_event_name(event: EvidenceRecorded, tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        await tx.conn.execute("INSERT INTO effects (message_id) VALUES ($1::text::uuid)", event.event)

    bus = await start_bus(store_event_name)
    message = evidence().model_copy(update={"event": "not a uuid"})
    await publish_raw(
        amqp_url, message.exchange, message.routing_key, message.to_json(), str(message.message_id)
    )
    dead = await get_one(amqp_url, dead_letter_queue(queue_name(consumer, EvidenceRecorded)))
    assert "InvalidTextRepresentation" in str(dead.headers[DLQ_REASON_HEADER])
    assert calls == 1
    assert bus.stats.retried == 0
