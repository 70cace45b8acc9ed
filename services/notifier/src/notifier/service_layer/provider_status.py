"""A provider's report on a message it took (Twilio's status callback).

Delivered (`delivered`, `completed`): kept with the attempts, and `NoticeDelivered`.
Undelivered or failed (`undelivered`, `failed`, `busy`, `no-answer`, `canceled`): kept, the
channel's NotificationForAcceptanceFailure evidence (`NoticeFailed`, naming the channel),
and for a notice or reminder, a `SendNotice` that goes on with the next channel of the
letter's order not yet used in the round (lre_shared.notices). Email stays the legal
channel (CPCE R.53-3): an alert's failure does not touch the window.

A report arrives once or more (providers retry): only the first of a message's failures
counts, by a unique index on the failed attempts' provider ids.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from lre_shared import outbox
from lre_shared.messages import NoticeChannel, NoticeDelivered, NoticeFailed, NoticeKind, SendNotice
from lre_shared.notices import continuation

FINAL_DELIVERED = {"delivered", "completed"}
FINAL_FAILED = {"failed", "undelivered", "busy", "no-answer", "canceled"}
NOTICE_KINDS = {NoticeKind.notice.value, NoticeKind.reminder.value}


class Connection(Protocol):
    async def execute(self, query: str, *args: Any) -> str: ...
    async def fetch(self, query: str, *args: Any) -> list[Any]: ...
    async def fetchrow(self, query: str, *args: Any) -> Any: ...
    async def fetchval(self, query: str, *args: Any) -> Any: ...


async def report(conn: Connection, sid: str, status: str, error_code: str = "") -> bool:
    """Apply the provider's final status of message `sid`, inside the caller's transaction;
    False when no notice of ours has that id."""
    row = await conn.fetchrow(
        "SELECT notice_id, letter_id, channel, address, kind FROM delivery_attempts"
        " WHERE provider_message_id = $1 AND outcome = 'sent' ORDER BY id DESC LIMIT 1",
        sid,
    )
    if row is None:
        return False
    if status in FINAL_FAILED:
        reason = f"provider status {status} {error_code}".strip()
        first = await conn.fetchval(
            "INSERT INTO delivery_attempts (notice_id, letter_id, channel, address, outcome,"
            " reason, provider_message_id, kind) VALUES ($1, $2, $3, $4, 'failed', $5, $6, $7)"
            " ON CONFLICT (provider_message_id) WHERE outcome = 'failed' AND provider_message_id <> ''"
            " DO NOTHING RETURNING id",
            row["notice_id"],
            row["letter_id"],
            row["channel"],
            row["address"],
            reason,
            sid,
            row["kind"],
        )
        if first is not None and row["kind"] in NOTICE_KINDS:
            await _move_on(conn, row, reason)
    elif status in FINAL_DELIVERED:
        await conn.execute(
            "INSERT INTO delivery_attempts (notice_id, letter_id, channel, address, outcome,"
            " reason, provider_message_id, kind) VALUES ($1, $2, $3, $4, 'delivered', $5, $6, $7)",
            row["notice_id"],
            row["letter_id"],
            row["channel"],
            row["address"],
            status,
            sid,
            row["kind"],
        )
        await outbox.enqueue(
            conn,
            NoticeDelivered(
                correlation_id=row["letter_id"],
                notice_id=row["notice_id"],
                channel=NoticeChannel(row["channel"]),
                provider_message_id=sid,
                status=status,
                delivered_at=datetime.now(UTC),
            ),
        )
    return True


async def _move_on(conn: Connection, row: Any, reason: str) -> None:
    stored = await conn.fetchval("SELECT command::text FROM notices WHERE notice_id = $1", row["notice_id"])
    if stored is None:
        return  # a notice sent before its command was kept: nothing to go on from
    command = SendNotice.model_validate_json(stored)
    channel = NoticeChannel(row["channel"])
    await outbox.enqueue(
        conn,
        NoticeFailed(
            correlation_id=command.correlation_id,
            notice_id=command.message_id,
            item_number=command.item_number,
            channel=channel,
            address=row["address"],
            reason=reason,
            permanent=True,
            kind=command.kind,
            attempts=(f"{channel}: {reason}",),
        ),
    )
    round_id = command.round_id or command.message_id
    used = {
        NoticeChannel(r["channel"])
        for r in await conn.fetch("SELECT channel FROM notice_channels WHERE round_id = $1", round_id)
    }
    following = continuation(command, channel, used)
    while following is not None:
        # Taken here, with the command queued in the same transaction: no other command of
        # the round can take the channel in between.
        taken = await conn.fetchval(
            "INSERT INTO notice_channels (round_id, channel, notice_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (round_id, channel) DO NOTHING RETURNING notice_id",
            round_id,
            following.channel.value,
            following.message_id,
        )
        if taken is not None:
            await outbox.enqueue(conn, following)
            return
        used.add(following.channel)
        following = continuation(command, channel, used)
