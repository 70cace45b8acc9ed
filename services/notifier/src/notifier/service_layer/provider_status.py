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

from dataclasses import replace

from lre_shared.clock import now_utc
from lre_shared.contracts import NoticeDelivered, NoticeKind
from lre_shared.notices import continuation
from notifier.domain.delivery import Attempt
from notifier.service_layer.handlers import notice_failed
from notifier.service_layer.ports import UnitOfWork

FINAL_DELIVERED = {"delivered", "completed"}
FINAL_FAILED = {"failed", "undelivered", "busy", "no-answer", "canceled"}
NOTICE_KINDS = {NoticeKind.notice.value, NoticeKind.reminder.value}


async def report(uow: UnitOfWork, sid: str, status: str, error_code: str = "") -> bool:
    """Apply the provider's final status of message `sid`, inside the unit of work's
    transaction; False when no notice of ours has that id."""
    sent = await uow.attempts.sent_as(sid)
    if sent is None:
        return False
    if status in FINAL_FAILED:
        reason = f"provider status {status} {error_code}".strip()
        first = await uow.attempts.add_first_failure(replace(sent, outcome="failed", reason=reason))
        if first and sent.kind in NOTICE_KINDS:
            await _move_on(uow, sent, reason)
    elif status in FINAL_DELIVERED:
        await uow.attempts.add(replace(sent, outcome="delivered", reason=status))
        await uow.publish(
            NoticeDelivered(
                correlation_id=sent.letter_id,
                notice_id=sent.notice_id,
                channel=sent.channel,
                provider_message_id=sid,
                status=status,
                delivered_at=now_utc(),
            )
        )
    return True


async def _move_on(uow: UnitOfWork, failed: Attempt, reason: str) -> None:
    command = await uow.notices.command(failed.notice_id)
    if command is None:
        return  # a notice sent before its command was kept: nothing to go on from
    tried = [f"{failed.channel}: {reason}"]
    await uow.publish(notice_failed(command, failed.channel, failed.address, reason, tried))
    round_id = command.round_id or command.message_id
    used = await uow.rounds.used(round_id)
    following = continuation(command, failed.channel, used)
    while following is not None:
        # Taken here, with the command queued in the same transaction: no other command of
        # the round can take the channel in between.
        if await uow.rounds.take(round_id, following.channel, following.message_id):
            await uow.publish(following)
            return
        used.add(following.channel)
        following = continuation(command, failed.channel, used)
