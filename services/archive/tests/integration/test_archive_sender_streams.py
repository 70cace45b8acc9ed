"""Each letter's events to its sender are numbered in PostgreSQL: two archive replicas telling
two facts of one letter at once number them one after the other, and their outbox rows follow
in that order (`archive.adapters.sender_streams`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from archive.adapters.postgres import PgUnitOfWork
from archive.bootstrap import MIGRATIONS
from archive.service_layer.sender_events import tell_sender
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from lre_shared.bus import Transaction
from lre_shared.clock import now_utc as now
from lre_shared.contracts import LetterAccepted, LetterDeposited, LetterRefused, SenderEvent
from lre_shared.db import create_pool, migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await migrate(database_url, MIGRATIONS)
    opened = await create_pool(database_url, 4)
    yield opened
    await opened.close()


async def a_letter(pool: asyncpg.Pool) -> LetterDeposited:
    letter = LetterDeposited(
        correlation_id=uuid.uuid4(),
        item_number=f"{uuid.uuid4().int % 10**12:012d}",
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        documents=(),
        verification_policy="default",
        deposited_at=now(),
    )
    async with pool.acquire() as conn, conn.transaction():
        uow = PgUnitOfWork(Transaction(conn))
        assert await uow.letters.add(letter, sender_id=DEMO_SENDER.id, idempotency_key=None, fingerprint="f")
        await tell_sender(letter, uow)
    return letter


async def told(pool: asyncpg.Pool, letter: LetterDeposited) -> list[SenderEvent]:
    rows = await pool.fetch(
        "SELECT routing_key, body FROM outbox WHERE exchange = 'lre.senders.events' AND correlation_id = $1"
        " ORDER BY id",
        letter.correlation_id,
    )
    events = [SenderEvent.model_validate_json(bytes(row["body"])) for row in rows]
    assert [row["routing_key"] for row in rows] == [e.sender_key for e in events]
    return events


async def test_two_replicas_telling_one_letter_at_once_number_its_events_in_commit_order(
    pool: asyncpg.Pool,
) -> None:
    letter = await a_letter(pool)
    item = letter.item_number
    first_conn, second_conn = await pool.acquire(), await pool.acquire()
    try:
        first = first_conn.transaction()
        await first.start()
        await tell_sender(
            LetterAccepted(correlation_id=letter.correlation_id, item_number=item, accepted_at=now()),
            PgUnitOfWork(Transaction(first_conn)),
        )

        async def second_replica() -> None:
            async with second_conn.transaction():
                await tell_sender(
                    LetterRefused(correlation_id=letter.correlation_id, item_number=item, refused_at=now()),
                    PgUnitOfWork(Transaction(second_conn)),
                )

        waiting = asyncio.create_task(second_replica())
        await asyncio.sleep(0.5)
        assert not waiting.done()  # the letter's number is locked by the first transaction
        await first.commit()
        await asyncio.wait_for(waiting, 10)
    finally:
        await pool.release(first_conn)
        await pool.release(second_conn)

    events = await told(pool, letter)
    assert [(e.sequence, e.event.value) for e in events] == [
        (1, "deposited"),
        (2, "accepted"),
        (3, "refused"),
    ]
    assert {e.sender_key.split(".")[0] for e in events} == {DEMO_SENDER.id}


async def test_a_rolled_back_fact_leaves_no_event_and_no_gap(pool: asyncpg.Pool) -> None:
    letter = await a_letter(pool)
    async with pool.acquire() as conn:
        rolled_back = conn.transaction()
        await rolled_back.start()
        await tell_sender(
            LetterAccepted(correlation_id=letter.correlation_id, item_number="1", accepted_at=now()),
            PgUnitOfWork(Transaction(conn)),
        )
        await rolled_back.rollback()  # the handling failed
    async with pool.acquire() as conn, conn.transaction():
        await tell_sender(
            LetterRefused(correlation_id=letter.correlation_id, item_number="1", refused_at=now()),
            PgUnitOfWork(Transaction(conn)),
        )

    events = await told(pool, letter)
    assert [(e.sequence, e.event.value) for e in events] == [(1, "deposited"), (2, "refused")]
