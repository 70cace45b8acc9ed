"""Notifier use cases."""

from __future__ import annotations

from lre_shared.bus import Transaction
from lre_shared.messages import Message, NoticeFailed, NoticeSent, SendNotice, now_utc
from notifier.adapters.email import Mailer, PermanentDeliveryError
from notifier.domain.notice import render_notice


async def send_notice(
    command: SendNotice, tx: Transaction, *, mailer: Mailer, pickup_url: str
) -> Message | None:
    notice = render_notice(command.item_number, pickup_url, command.deadline)
    try:
        # A transient failure raises: the bus returns the message and retries it later.
        provider_id = await mailer.send(command.address, notice.subject, notice.text, notice.html)
    except PermanentDeliveryError as exc:
        await _record(tx, command, "failed", str(exc))
        await tx.publish(
            NoticeFailed(
                correlation_id=command.correlation_id,
                notice_id=command.message_id,
                item_number=command.item_number,
                channel=command.channel,
                address=command.address,
                reason=str(exc),
                permanent=True,
            )
        )
        return None
    sent_at = now_utc()
    await _record(tx, command, "sent", None, provider_id)
    await tx.publish(
        NoticeSent(
            correlation_id=command.correlation_id,
            notice_id=command.message_id,
            item_number=command.item_number,
            channel=command.channel,
            address=command.address,
            sent_at=sent_at,
            provider_message_id=provider_id,
        )
    )
    return None


async def _record(
    tx: Transaction,
    command: SendNotice,
    outcome: str,
    reason: str | None,
    provider_id: str | None = None,
) -> None:
    await tx.conn.execute(
        "INSERT INTO delivery_attempts"
        " (notice_id, letter_id, channel, address, outcome, reason, provider_message_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        command.message_id,
        command.correlation_id,
        command.channel.value,
        command.address,
        outcome,
        reason,
        provider_id,
    )
