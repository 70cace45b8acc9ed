"""Deliveries handled together in one transaction, and outbox rows published together, against
a real RabbitMQ and a real PostgreSQL: what a batch must never do is lose a message, apply one
twice, or let one message's failure decide the fate of the others.

A batch is made deterministic by holding the only worker of the queue on a first message
while the others arrive: they are then all waiting, and go in the next transaction together.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage
from pydantic_settings import SettingsConfigDict

from lre_shared.bus import Bus, PermanentError, Transaction
from lre_shared.contracts import EvidenceRecorded, Message, SendNotice, now_utc
from lre_shared.outbox import enqueue
from lre_shared.settings import ServiceSettings
from lre_shared.topology import DLQ_REASON_HEADER, Service, dead_letter_queue, queue_name
from tests.support import infra
from tests.support.bus import eventually, get_one, publish

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    """A virtual host of this module's own: nobody else consumes its keys."""
    with infra.rabbitmq_url() as url:
        yield url


class BatchSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LRE_BATCH_TEST_", frozen=True)


Handler = Callable[[EvidenceRecorded, Transaction], Awaitable[None]]


@pytest.fixture
def consumer() -> str:
    return f"batch-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def start_bus(
    amqp_url: str, database_url: str, effects_pool: asyncpg.Pool, consumer: str
) -> AsyncIterator[Callable[..., Awaitable[Bus]]]:
    buses: list[Bus] = []

    async def start(handler: Handler, **overrides: Any) -> Bus:
        settings = BatchSettings(
            amqp_url=amqp_url,
            database_url=database_url,
            http_port=0,
            outbox_poll_seconds=0.2,
            **{"consume_workers": 1, **overrides},
        )
        bus = Bus(settings, Service.signer, consumer=consumer)
        bus.subscribe(EvidenceRecorded, handler)
        await bus.start(effects_pool)
        buses.append(bus)
        return bus

    yield start
    for bus in buses:
        await bus.stop()


def evidence() -> EvidenceRecorded:
    return EvidenceRecorded(
        correlation_id=uuid.uuid4(),
        evidence_id=uuid.uuid4(),
        event="SubmissionAcceptance",
        event_time=now_utc(),
        record_sha256="0" * 64,
        previous_sha256=None,
    )


async def effects(pool: asyncpg.Pool, message: Message) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM effects WHERE message_id = $1", message.message_id)
    return count


class Gate:
    """Holds the handler on the first message until opened, while the next ones pile up."""

    def __init__(self, bus_of: Callable[[], Bus]) -> None:
        self.first = evidence()
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        self._bus_of = bus_of

    async def hold(self, event: EvidenceRecorded) -> bool:
        if event.message_id != self.first.message_id:
            return False
        self.entered.set()
        await self.opened.wait()
        return True

    async def pile_up(self, amqp_url: str, *messages: Message) -> None:
        """Publish the gate's message, then `messages` once it is held; return when they all
        wait for the worker."""
        await publish(amqp_url, self.first)
        await asyncio.wait_for(self.entered.wait(), 20)
        await publish(amqp_url, *messages)
        await eventually(lambda: self._waiting() == len(messages))

    def _waiting(self) -> int:
        consuming = self._bus_of()._consuming
        return sum(batcher._waiting.qsize() for batcher in consuming._batchers.values())


async def test_one_failing_message_of_a_batch_is_dead_lettered_alone_and_the_others_applied_once(
    start_bus: Callable[..., Awaitable[Bus]], effects_pool: asyncpg.Pool, amqp_url: str, consumer: str
) -> None:
    good = [evidence() for _ in range(4)]
    bad = evidence()
    transactions: dict[uuid.UUID, list[int]] = {}
    buses: list[Bus] = []
    gate = Gate(lambda: buses[0])

    async def handle(event: EvidenceRecorded, tx: Transaction) -> None:
        transactions.setdefault(event.message_id, []).append(await tx.conn.fetchval("SELECT txid_current()"))
        if await gate.hold(event):
            return
        await tx.conn.execute("INSERT INTO effects (message_id) VALUES ($1)", event.message_id)
        if event.message_id == bad.message_id:
            raise PermanentError("evidence of an unknown letter")

    buses.append(bus := await start_bus(handle))
    await gate.pile_up(amqp_url, good[0], good[1], bad, good[2], good[3])
    gate.opened.set()

    dead = await get_one(amqp_url, dead_letter_queue(queue_name(consumer, EvidenceRecorded)))
    assert dead.message_id == str(bad.message_id)
    assert dead.headers[DLQ_REASON_HEADER] == "evidence of an unknown letter"
    await eventually(lambda: bus.stats.handled == 1 + len(good))
    for message in good:
        assert await effects(effects_pool, message) == 1
    assert await effects(effects_pool, bad) == 0  # rolled back with its failure
    # Tried together first (the batch's transaction stops at the failure), then one by one:
    # the two before it were applied again, in a transaction of their own.
    first_tries = {transactions[m.message_id][0] for m in [good[0], good[1], bad]}
    assert len(first_tries) == 1
    assert all(len(transactions[m.message_id]) == 2 for m in [good[0], good[1], bad])
    assert bus.stats.dead_lettered == 1
    assert bus.stats.retried == 0


async def test_a_transient_failure_in_a_batch_retries_that_message_only(
    start_bus: Callable[..., Awaitable[Bus]], effects_pool: asyncpg.Pool, amqp_url: str
) -> None:
    good = [evidence() for _ in range(3)]
    flaky = evidence()
    failures = 0
    buses: list[Bus] = []
    gate = Gate(lambda: buses[0])

    async def handle(event: EvidenceRecorded, tx: Transaction) -> None:
        nonlocal failures
        if await gate.hold(event):
            return
        await tx.conn.execute("INSERT INTO effects (message_id) VALUES ($1)", event.message_id)
        if event.message_id == flaky.message_id and failures < 2:
            failures += 1  # the batch's try, then its own
            raise ConnectionError("downstream not ready")

    buses.append(bus := await start_bus(handle))
    await gate.pile_up(amqp_url, good[0], flaky, good[1], good[2])
    gate.opened.set()

    await eventually(lambda: bus.stats.handled == 2 + len(good), timeout=30)
    for message in [*good, flaky]:
        assert await effects(effects_pool, message) == 1
    assert bus.stats.retried == 1  # only the flaky message went back to the queue
    assert bus.stats.dead_lettered == 0


async def test_the_same_message_twice_in_one_batch_is_applied_once(
    start_bus: Callable[..., Awaitable[Bus]], effects_pool: asyncpg.Pool, amqp_url: str
) -> None:
    twice, other = evidence(), evidence()
    transactions: dict[uuid.UUID, set[int]] = {}
    buses: list[Bus] = []
    gate = Gate(lambda: buses[0])

    async def handle(event: EvidenceRecorded, tx: Transaction) -> None:
        transactions.setdefault(event.message_id, set()).add(await tx.conn.fetchval("SELECT txid_current()"))
        if await gate.hold(event):
            return
        await tx.conn.execute("INSERT INTO effects (message_id) VALUES ($1)", event.message_id)

    buses.append(bus := await start_bus(handle))
    await gate.pile_up(amqp_url, twice, other, twice)
    gate.opened.set()

    await eventually(lambda: bus.stats.handled + bus.stats.duplicates == 4)
    assert await effects(effects_pool, twice) == 1
    assert await effects(effects_pool, other) == 1
    assert bus.stats.duplicates == 1
    assert transactions[twice.message_id] == transactions[other.message_id]  # one transaction


async def test_a_batch_committed_but_never_acknowledged_is_recognised_when_redelivered(
    start_bus: Callable[..., Awaitable[Bus]], effects_pool: asyncpg.Pool, amqp_url: str
) -> None:
    batch = [evidence() for _ in range(5)]
    buses: list[Bus] = []
    gate = Gate(lambda: buses[0])
    calls = 0

    async def handle(event: EvidenceRecorded, tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        if await gate.hold(event):
            return
        await tx.conn.execute("INSERT INTO effects (message_id) VALUES ($1)", event.message_id)

    crashing = await start_bus(handle)
    buses.append(crashing)
    committed: list[AbstractIncomingMessage] = []

    async def crash_before_ack(messages: list[AbstractIncomingMessage]) -> None:
        # The process dies between the commit and the ack: nothing reaches the broker.
        committed.extend(messages)

    crashing._consuming.settlements.ack = crash_before_ack  # type: ignore[method-assign]
    await gate.pile_up(amqp_url, *batch)
    gate.opened.set()
    await eventually(lambda: len(committed) == 1 + len(batch))
    for message in batch:
        assert await effects(effects_pool, message) == 1
    await crashing.stop()  # its channel closes: the broker takes the deliveries back

    restarted = await start_bus(handle)
    await eventually(lambda: restarted.stats.duplicates == 1 + len(batch))
    assert restarted.stats.handled == 0
    for message in batch:
        assert await effects(effects_pool, message) == 1
    assert calls == 1 + len(batch)  # no handler ran again


async def test_an_unroutable_row_fails_alone_and_the_rows_around_it_are_published_in_order(
    start_bus: Callable[..., Awaitable[Bus]], effects_pool: asyncpg.Pool
) -> None:
    arrived: list[uuid.UUID] = []

    async def handle(event: EvidenceRecorded, tx: Transaction) -> None:
        arrived.append(event.message_id)
        await tx.conn.execute("INSERT INTO effects (message_id) VALUES ($1)", event.message_id)

    # One worker: batches one after the other, each in the queue's order.
    bus = await start_bus(handle)
    # Nobody consumes notifier commands in this virtual host: the broker returns this one.
    unroutable = SendNotice(
        correlation_id=uuid.uuid4(),
        item_number="123456789012",
        address="a@b.example",
        deadline=now_utc().date(),
    )
    before = [evidence() for _ in range(20)]
    after = [evidence() for _ in range(20)]
    async with effects_pool.acquire() as conn, conn.transaction():  # one commit: one relay batch
        for message in [*before, unroutable, *after]:
            await enqueue(conn, message)

    async def refusal_recorded() -> bool:
        # The relay records the broker's refusal once the batch's publishes are all answered,
        # a moment after the consumer may have handled the rows around it.
        attempts = await effects_pool.fetchval(
            "SELECT attempts FROM outbox WHERE message_id = $1", unroutable.message_id
        )
        return bool(attempts)

    await eventually(lambda: len(arrived) == len(before) + len(after))
    await eventually(refusal_recorded)
    assert arrived == [m.message_id for m in [*before, *after]]
    row = await effects_pool.fetchrow(
        "SELECT attempts, last_error, published_at FROM outbox WHERE message_id = $1", unroutable.message_id
    )
    assert row["published_at"] is None
    assert row["attempts"] >= 1
    assert "NO_ROUTE" in row["last_error"]
    published = await effects_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL AND message_id = ANY($1::uuid[])",
        [m.message_id for m in [*before, *after]],
    )
    assert published == len(before) + len(after)
    assert bus.relay is not None and bus.relay.published == len(before) + len(after)
