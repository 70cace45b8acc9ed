"""The notifier's records in PostgreSQL: the repositories of `notifier.service_layer.ports`,
and the unit of work that holds them with the outbox in one transaction."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from lre_shared import units
from lre_shared.contracts import NoticeChannel, SendNotice
from lre_shared.units import PgRepository, Transactions, columns, fetch_all, fetch_one, insert
from notifier.adapters.attempts import PgAttempts, PgRounds
from notifier.domain.reminders import ReminderSchedule

SCHEDULE = (
    "SELECT letter_id, item_number, address, language, deadline, next_at, opt_out_token, channels,"
    " phone, landline, fax FROM reminders WHERE stopped IS NULL"
)


class PgNotices(PgRepository):
    async def keep(self, command: SendNotice) -> None:
        await self.conn.execute(
            "INSERT INTO notices (notice_id, letter_id, command) VALUES ($1, $2, $3::jsonb)"
            " ON CONFLICT (notice_id) DO NOTHING",
            command.message_id,
            command.correlation_id,
            command.model_dump_json(),
        )

    async def command(self, notice_id: UUID) -> SendNotice | None:
        stored = await self.conn.fetchval("SELECT command::text FROM notices WHERE notice_id = $1", notice_id)
        return None if stored is None else SendNotice.model_validate_json(stored)


def _schedule(**row: Any) -> ReminderSchedule:
    return ReminderSchedule(
        **row | {"channels": tuple(NoticeChannel(c) for c in row["channels"] or ("email",))}
    )


class PgReminders(PgRepository):
    async def add(self, schedule: ReminderSchedule) -> None:
        row = {**columns(schedule), "channels": [channel.value for channel in schedule.channels]}
        await insert(self.conn, "reminders", row, then="ON CONFLICT (letter_id) DO NOTHING")

    async def active(self, letter_id: UUID) -> ReminderSchedule | None:
        return await fetch_one(self.conn, _schedule, SCHEDULE + " AND letter_id = $1", letter_id)

    async def due(self, now: datetime, limit: int) -> list[ReminderSchedule]:
        return await fetch_all(
            self.conn,
            _schedule,
            SCHEDULE + " AND next_at <= $1 ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )

    async def reschedule(self, letter_id: UUID, next_at: datetime | None) -> None:
        await self.conn.execute(
            "UPDATE reminders SET next_at = $2, stopped = CASE WHEN $2::timestamptz IS NULL"
            " THEN 'window over' END WHERE letter_id = $1",
            letter_id,
            next_at,
        )

    async def stop_on_decision(self, letter_id: UUID) -> None:
        await self.conn.execute(
            "UPDATE reminders SET stopped = 'decided', next_at = NULL WHERE letter_id = $1", letter_id
        )

    async def change_language(self, letter_id: UUID, language: str) -> None:
        await self.conn.execute(
            "UPDATE reminders SET language = $2 WHERE letter_id = $1", letter_id, language
        )

    async def known(self, opt_out_token: str) -> bool:
        row = await self.conn.fetchrow("SELECT 1 FROM reminders WHERE opt_out_token = $1", opt_out_token)
        return row is not None

    async def opt_out(self, opt_out_token: str) -> bool:
        result = await self.conn.execute(
            "UPDATE reminders SET stopped = coalesce(stopped, 'opted out'), next_at = NULL"
            " WHERE opt_out_token = $1",
            opt_out_token,
        )
        return bool(result != "UPDATE 0")


class PgUnitOfWork(units.PgUnitOfWork):
    """The bus's transaction seen through the notifier's repositories."""

    attempts: PgAttempts
    rounds: PgRounds
    notices: PgNotices
    reminders: PgReminders


# The unit of work over the bus's transaction of a message.
unit_of_work = PgUnitOfWork


def transaction(pool: asyncpg.Pool) -> AbstractAsyncContextManager[PgUnitOfWork]:
    """A unit of work on one of the pool's connections, committed when the block ends well."""
    return Transactions(PgUnitOfWork, lambda: pool)()
