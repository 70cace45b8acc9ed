"""A unit of work of its own commits a service's writes and the messages they announce
together, or neither (the outbox), on a real PostgreSQL."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from lre_shared.bus import Transaction
from lre_shared.contracts import LetterAccepted, now_utc
from lre_shared.units import PgRepository, PgUnitOfWork, Transactions


class Effects(PgRepository):
    async def record(self, message_id: uuid.UUID) -> None:
        await self.conn.execute("INSERT INTO effects (message_id) VALUES ($1)", message_id)


class EffectsUnit(PgUnitOfWork):
    def __init__(self, tx: Transaction) -> None:
        super().__init__(tx)
        self.effects = Effects(self.conn)


def an_event() -> LetterAccepted:
    return LetterAccepted(correlation_id=uuid.uuid4(), item_number="123456789012", accepted_at=now_utc())


async def what_committed(pool: asyncpg.Pool, message_id: uuid.UUID) -> tuple[int, int]:
    effects = await pool.fetchval("SELECT count(*) FROM effects WHERE message_id = $1", message_id)
    sent = await pool.fetchval("SELECT count(*) FROM outbox WHERE message_id = $1", message_id)
    return effects, sent


async def test_a_unit_that_ends_well_commits_its_writes_with_its_messages(effects_pool: asyncpg.Pool) -> None:
    units = Transactions(EffectsUnit, lambda: effects_pool)
    event = an_event()

    async with units() as uow:
        await uow.effects.record(event.message_id)
        await uow.publish(event)

    assert await what_committed(effects_pool, event.message_id) == (1, 1)


async def test_a_unit_that_fails_leaves_neither_its_writes_nor_its_messages(
    effects_pool: asyncpg.Pool,
) -> None:
    units = Transactions(EffectsUnit, lambda: effects_pool)
    event = an_event()

    async def failing_after_writing() -> None:
        async with units() as uow:
            await uow.effects.record(event.message_id)
            await uow.publish(event)
            raise RuntimeError("the use case failed after writing")

    with pytest.raises(RuntimeError):
        await failing_after_writing()

    assert await what_committed(effects_pool, event.message_id) == (0, 0)
