"""Reminders (relances): scheduled when the first notice goes out, sent every few days
until the recipient decides (pickup's LetterAccepted / LetterRefused), opts out with the
link each reminder carries, or the window ends. Each due reminder is a round of `SendNotice`
of kind `reminder`, one a channel of the letter (email and the alerts its sender asked for,
lre_shared.notices), queued through the outbox so it gets the same delivery and fallback.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from lre_shared.bus import Transaction
from lre_shared.messages import (
    LetterAccepted,
    LetterLanguageChanged,
    LetterRefused,
    Message,
    NoticeChannel,
    NoticeKind,
    SendNotice,
)
from lre_shared.notices import asked_channels, per_channel
from notifier.domain.reminders import next_reminder

OPT_OUT_PATH = "/reminders/opt-out/"


class Connection(Protocol):
    async def execute(self, query: str, *args: Any) -> str: ...
    async def fetch(self, query: str, *args: Any) -> list[Any]: ...
    async def fetchrow(self, query: str, *args: Any) -> Any: ...


@dataclass(frozen=True)
class Schedule:
    letter_id: UUID
    opt_out_token: str


def opt_out_link(base_url: str | None, token: str) -> str | None:
    return base_url.rstrip("/") + OPT_OUT_PATH + token if base_url else None


async def schedule(tx: Transaction, command: SendNotice, sent_at: datetime, every: timedelta) -> None:
    await tx.conn.execute(
        "INSERT INTO reminders (letter_id, item_number, address, language, deadline, next_at,"
        " opt_out_token, channels, phone, landline, fax)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (letter_id) DO NOTHING",
        command.correlation_id,
        command.item_number,
        str(command.address),
        command.language,
        command.deadline,
        next_reminder(sent_at, every, command.deadline),
        secrets.token_urlsafe(24),
        # Reminders go on the letter's channels, as its first notice did.
        [channel.value for channel in asked_channels(command.channels)],
        command.phone,
        command.landline,
        command.fax,
    )


async def active(tx: Transaction, letter_id: UUID) -> Schedule | None:
    row = await tx.conn.fetchrow(
        "SELECT opt_out_token FROM reminders WHERE letter_id = $1 AND stopped IS NULL", letter_id
    )
    return None if row is None else Schedule(letter_id, row["opt_out_token"])


async def queue_due(tx: Transaction, now: datetime, every: timedelta, limit: int = 100) -> int:
    """Queue a reminder for every schedule due at `now`; move each to its next date."""
    rows = await tx.conn.fetch(
        "SELECT letter_id, item_number, address, language, deadline, next_at, channels, phone,"
        " landline, fax FROM reminders"
        " WHERE stopped IS NULL AND next_at <= $1 ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    for row in rows:
        following = next_reminder(row["next_at"], every, row["deadline"])
        reminder = SendNotice(
            correlation_id=row["letter_id"],
            item_number=row["item_number"],
            address=row["address"],
            deadline=row["deadline"],
            language=row["language"],
            kind=NoticeKind.reminder,
            channels=tuple(NoticeChannel(channel) for channel in row["channels"] or ("email",)),
            phone=row["phone"],
            landline=row["landline"],
            fax=row["fax"],
        )
        for command in per_channel(reminder):  # one a channel, one round a reminder
            await tx.publish(command)
        await tx.conn.execute(
            "UPDATE reminders SET next_at = $2, stopped = CASE WHEN $2::timestamptz IS NULL"
            " THEN 'window over' END WHERE letter_id = $1",
            row["letter_id"],
            following,
        )
    return len(rows)


async def stop_on_decision(event: LetterAccepted | LetterRefused, tx: Transaction) -> Message | None:
    await tx.conn.execute(
        "UPDATE reminders SET stopped = 'decided', next_at = NULL WHERE letter_id = $1",
        event.correlation_id,
    )
    return None


async def on_language_changed(event: LetterLanguageChanged, tx: Transaction) -> Message | None:
    await tx.conn.execute(
        "UPDATE reminders SET language = $2 WHERE letter_id = $1", event.correlation_id, event.language
    )
    return None


async def known(conn: Connection, token: str) -> bool:
    row = await conn.fetchrow("SELECT 1 FROM reminders WHERE opt_out_token = $1", token)
    return row is not None


async def opt_out(conn: Connection, token: str) -> bool:
    """Stop the reminders of the letter whose link carries `token`; False if unknown."""
    result = await conn.execute(
        "UPDATE reminders SET stopped = coalesce(stopped, 'opted out'), next_at = NULL"
        " WHERE opt_out_token = $1",
        token,
    )
    return result != "UPDATE 0"
