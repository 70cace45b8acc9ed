"""`lre-dlq` against a real RabbitMQ and a real PostgreSQL: a message that failed for good
is listed in its dead-letter queue and, once the cause is fixed, replayed and processed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic_settings import SettingsConfigDict

from lre_shared import dlq
from lre_shared.bus import Bus, PermanentError, Transaction
from lre_shared.contracts import EvidenceRecorded, now_utc
from lre_shared.settings import ServiceSettings
from lre_shared.topology import Service, queue_name
from tests.support.bus import eventually

pytestmark = pytest.mark.integration


class ReplaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LRE_DLQ_TEST_", frozen=True)


@pytest.fixture
def pool(effects_pool: asyncpg.Pool) -> asyncpg.Pool:
    return effects_pool


class FlakyEffect:
    """Fails for good until the cause is fixed, then records its effect."""

    def __init__(self) -> None:
        self.fixed = False

    async def __call__(self, event: EvidenceRecorded, tx: Transaction) -> None:
        if not self.fixed:
            raise PermanentError(f"no chain for letter {event.correlation_id}")
        await tx.conn.execute("INSERT INTO effects (message_id) VALUES ($1)", event.message_id)


@pytest.fixture
async def bus(amqp_url: str, database_url: str, pool: asyncpg.Pool) -> AsyncIterator[tuple[Bus, FlakyEffect]]:
    settings = ReplaySettings(amqp_url=amqp_url, database_url=database_url, http_port=0)
    bus = Bus(settings, Service.signer, consumer=f"test-dlq-{uuid.uuid4().hex[:8]}")
    effect = FlakyEffect()
    bus.subscribe(EvidenceRecorded, effect)
    await bus.start(pool)
    yield bus, effect
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


async def effects(pool: asyncpg.Pool, event: EvidenceRecorded) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM effects WHERE message_id = $1", event.message_id)
    return count


async def test_a_message_that_failed_for_good_is_listed_with_its_reason(
    bus: tuple[Bus, FlakyEffect], amqp_url: str
) -> None:
    consumer, _ = bus
    event = evidence()
    queue = queue_name(consumer.consumer, EvidenceRecorded)
    await consumer.publisher.publish(event)

    async def dead_lettered() -> bool:
        return len(await dlq.list_dead_letters(amqp_url, queue)) == 1

    await eventually(dead_lettered)
    [letter] = await dlq.list_dead_letters(amqp_url, queue)
    assert letter.message_id == str(event.message_id)
    assert letter.letter_id == str(event.correlation_id)
    assert letter.original_queue == queue
    assert letter.reason == f"no chain for letter {event.correlation_id}"
    assert letter.replays == 0
    # Listing takes nothing away.
    assert len(await dlq.list_dead_letters(amqp_url, queue)) == 1


async def test_a_replayed_message_is_processed_once_its_cause_is_fixed(
    bus: tuple[Bus, FlakyEffect], amqp_url: str, pool: asyncpg.Pool
) -> None:
    consumer, effect = bus
    queue = queue_name(consumer.consumer, EvidenceRecorded)
    failed, other = evidence(), evidence()
    await consumer.publisher.publish(failed)
    await consumer.publisher.publish(other)

    async def both_dead_lettered() -> bool:
        return len(await dlq.list_dead_letters(amqp_url, queue)) == 2

    await eventually(both_dead_lettered)
    effect.fixed = True

    moved = await dlq.replay(amqp_url, queue, message_ids=[str(failed.message_id)])

    assert [letter.message_id for letter in moved] == [str(failed.message_id)]

    async def processed() -> bool:
        return await effects(pool, failed) == 1

    await eventually(processed)
    remaining = await dlq.list_dead_letters(amqp_url, queue)
    assert [letter.message_id for letter in remaining] == [str(other.message_id)]
    assert await effects(pool, other) == 0


async def dead_letter_one(consumer: Bus, amqp_url: str) -> tuple[str, EvidenceRecorded]:
    """Publish one event that fails for good and wait until it is dead-lettered; return its
    queue and the event."""
    queue = queue_name(consumer.consumer, EvidenceRecorded)
    event = evidence()
    await consumer.publisher.publish(event)

    async def dead_lettered() -> bool:
        return len(await dlq.list_dead_letters(amqp_url, queue)) == 1

    await eventually(dead_lettered)
    return queue, event


async def test_replay_all_empties_the_dead_letter_queue_and_counts_the_replay(
    bus: tuple[Bus, FlakyEffect], amqp_url: str, pool: asyncpg.Pool
) -> None:
    consumer, effect = bus
    queue, event = await dead_letter_one(consumer, amqp_url)
    # Replayed while the cause is still there: it fails again and comes back, counted.
    await dlq.replay(amqp_url, queue, replay_all=True)

    async def back_once() -> bool:
        # Until the replay took it, the queue still shows the first dead letter.
        return [letter.replays for letter in await dlq.list_dead_letters(amqp_url, queue)] == [1]

    await eventually(back_once)

    effect.fixed = True
    # The command itself, as an operator runs it (it runs its own event loop).
    assert await asyncio.to_thread(dlq.main, ["--amqp-url", amqp_url, "replay", queue, "--all"]) == 0

    async def processed() -> bool:
        return await effects(pool, event) == 1

    await eventually(processed)
    assert await dlq.list_dead_letters(amqp_url, queue) == []


async def test_the_command_lists_what_it_finds_and_names_a_queue_that_does_not_exist(
    bus: tuple[Bus, FlakyEffect], amqp_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    consumer, _ = bus
    queue, event = await dead_letter_one(consumer, amqp_url)
    assert await asyncio.to_thread(dlq.main, ["--amqp-url", amqp_url, "list", queue]) == 0
    listed = capsys.readouterr().out
    assert str(event.message_id) in listed
    assert str(event.correlation_id) in listed
    assert "no chain for letter" in listed

    missing = await asyncio.to_thread(
        dlq.main, ["--amqp-url", amqp_url, "list", "nobody.letter.deposited.v1"]
    )
    assert missing == 2
    assert "no queue nobody.letter.deposited.v1" in capsys.readouterr().err


def test_replay_refuses_to_guess_which_messages(amqp_url: str) -> None:
    with pytest.raises(ValueError, match="--all"):
        asyncio.run(dlq.replay(amqp_url, "any.queue"))
