"""A unit of work of its own commits a service's writes and the messages they announce
together, or neither (the outbox), on a real PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import pytest

from lre_shared.contracts import LetterAccepted, now_utc
from lre_shared.units import (
    OnPool,
    PgRepository,
    PgUnitOfWork,
    Transactions,
    columns,
    fetch_all,
    fetch_one,
    insert,
)


class Effects(PgRepository):
    async def record(self, message_id: uuid.UUID) -> None:
        await self.conn.execute("INSERT INTO effects (message_id) VALUES ($1)", message_id)


class EffectsUnit(PgUnitOfWork):
    effects: Effects


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


@dataclass(frozen=True)
class Effect:
    message_id: uuid.UUID


class EffectsRead(PgRepository):
    async def one(self, message_id: uuid.UUID) -> Effect | None:
        return await fetch_one(
            self.conn, Effect, "SELECT message_id FROM effects WHERE message_id = $1", message_id
        )

    async def all(self, message_ids: list[uuid.UUID]) -> list[Effect]:
        return await fetch_all(
            self.conn,
            Effect,
            "SELECT message_id FROM effects WHERE message_id = ANY($1::uuid[]) ORDER BY message_id",
            message_ids,
        )


class EffectsOnPool:
    effects = OnPool(EffectsRead)

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = lambda: pool


async def test_rows_are_read_by_column_and_a_missing_one_as_none(effects_pool: asyncpg.Pool) -> None:
    kept = sorted([uuid.uuid4(), uuid.uuid4()])
    await effects_pool.executemany("INSERT INTO effects (message_id) VALUES ($1)", [(k,) for k in kept])
    effects = EffectsOnPool(effects_pool).effects

    assert await effects.one(kept[0]) == Effect(kept[0])
    assert await effects.one(uuid.uuid4()) is None
    assert await effects.all([*kept, uuid.uuid4()]) == [Effect(k) for k in kept]


async def test_insert_writes_a_records_fields_as_its_columns_then_the_clause_given(
    effects_pool: asyncpg.Pool,
) -> None:
    await effects_pool.execute("CREATE TABLE IF NOT EXISTS kept (message_id uuid PRIMARY KEY)")
    effect = Effect(uuid.uuid4())

    first = await insert(effects_pool, "kept", columns(effect), "ON CONFLICT DO NOTHING")
    again = await insert(effects_pool, "kept", columns(effect), "ON CONFLICT DO NOTHING")

    assert (first, again) == ("INSERT 0 1", "INSERT 0 0")
    assert await fetch_all(
        effects_pool, Effect, "SELECT message_id FROM kept WHERE message_id = $1", effect.message_id
    ) == [effect]


async def test_insert_takes_only_plain_identifiers_for_names(effects_pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="not plain SQL identifiers"):
        await insert(effects_pool, "effects", {"message_id) VALUES (NULL); --": uuid.uuid4()})
