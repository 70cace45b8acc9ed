"""Notifier use cases.

A `SendNotice` names a channel and a fallback order (lre_shared.notices: one command a
channel the letter asked, all of a round sharing its `round_id`). The command's channel is
tried, and when it fails for good, each fallback in turn that no other command of the round
used yet; every attempt is stored. Each channel tried gives its own event, naming it:
`NoticeSent` when the provider took the notice, `NoticeFailed` when it refused it for good,
which feed the NotificationForAcceptance / NotificationForAcceptanceFailure evidence (ETSI
EN 319 522). A transient failure ends the handler with an exception so the bus retries the
command later (bounded, with back-off); a channel that failed for good before is not tried
again. A provider's later report that a sent notice was undelivered (`provider_status`)
moves on the same way.

Each try is marked `sending` in the attempt log, committed before the provider is called,
and its outcome recorded after. The process may stop in between (after the SMTP server took
the email, before the handler's transaction committed): the broker then redelivers the
command, whose mark has no outcome, and the notice is sent again with the same identity
(`delivery_key`): for email the same Message-ID, so the resend is the same message to mail
systems (RFC 5322 §3.6.4). A try whose `sent` outcome was recorded is not sent again; its
`NoticeSent` is given once more, the first having gone with the rolled-back transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import replace
from datetime import timedelta
from functools import partial
from uuid import UUID

from lre_shared.clock import now_utc
from lre_shared.contracts import (
    CodeFailed,
    CodeSent,
    Message,
    NoticeChannel,
    NoticeFailed,
    NoticeKind,
    NoticeSent,
    SendCaseConfirmation,
    SendCode,
    SendNotice,
)
from notifier.domain.code import code_text
from notifier.domain.confirmation import CaseConfirmation, confirmation_email, confirmation_sms
from notifier.domain.delivery import (
    Attempt,
    PermanentDeliveryError,
    Redelivery,
    TransientDeliveryError,
    delivery_key,
    redelivery,
)
from notifier.domain.email import Email
from notifier.domain.notice import Notice
from notifier.service_layer import reminders
from notifier.service_layer.ports import AttemptLog, Channel, Mailer, TextMessenger, UnitOfWork

log = logging.getLogger(__name__)


def route(command: SendNotice) -> list[tuple[NoticeChannel, str | None]]:
    """The channels to try, in order, each with the command's address for it."""
    addresses = {
        NoticeChannel.email: str(command.address),
        NoticeChannel.sms: command.phone,
        NoticeChannel.voice: command.phone or command.landline,  # a mobile first, else the landline
        NoticeChannel.fax: command.fax,
    }
    order = list(dict.fromkeys((command.channel, *command.fallback)))
    return [(channel, addresses[channel]) for channel in order]


async def send_notice(
    command: SendNotice,
    uow: UnitOfWork,
    *,
    channels: Mapping[NoticeChannel, Channel],
    attempts: AttemptLog,
    pickup_url: str,
    reminder_every: timedelta | None = None,
    opt_out_url: str | None = None,
) -> Message | None:
    opt_out = None
    if command.kind is NoticeKind.reminder:
        schedule = await uow.reminders.active(command.correlation_id)
        if schedule is None:
            return None  # decided, opted out or window over since it was queued: stay silent
        opt_out = reminders.opt_out_link(opt_out_url, schedule.opt_out_token)
    notice = Notice(
        command.item_number, pickup_url, command.deadline, command.language, command.kind, opt_out
    )
    channels_in_order = route(command)
    round_id = command.round_id or command.message_id
    # Only a command with a fallback can come back after one of its channels failed for good
    # (a later channel failed for now): skip the look-up for the common single-channel case.
    failed_before = await attempts.failed_for_good(command.message_id) if len(channels_in_order) > 1 else {}
    reasons: list[str] = []
    for index, (channel, address) in enumerate(channels_in_order):
        if await attempts.claim(round_id, channel, command.message_id) != command.message_id:
            if index == 0:
                return None  # another command of the round has this channel (e.g. as its fallback)
            continue  # used in this round already: the next one
        if channel in failed_before:
            # Failed for good on an earlier delivery of this command; its event went with
            # that delivery's rolled-back transaction: give it again, do not try again.
            reasons.append(f"{channel}: {failed_before[channel]}")
            await uow.publish(notice_failed(command, channel, address, failed_before[channel], reasons))
            continue
        try:
            adapter = channels.get(channel)
            sent = _sent(command, channel, address or "", command.kind.value)
            key = delivery_key(command.message_id, channel)
            provider_id = await _attempted(
                partial(_deliver, adapter, notice, channel, address, key), sent, attempts
            )
        except PermanentDeliveryError as exc:
            reasons.append(f"{channel}: {exc}")
            await uow.publish(notice_failed(command, channel, address, str(exc), reasons))
            continue
        sent_at = now_utc()
        await uow.publish(
            NoticeSent(
                correlation_id=command.correlation_id,
                notice_id=command.message_id,
                item_number=command.item_number,
                channel=channel,
                address=address,
                sent_at=sent_at,
                provider_message_id=provider_id,
                kind=command.kind,
            )
        )
        # Kept for the provider's later report (undelivered: the next channel goes on from it).
        await uow.notices.keep(command)
        if command.kind is NoticeKind.notice and reminder_every is not None:
            await reminders.schedule(uow, command, sent_at, reminder_every)
        return None
    return None


def notice_failed(
    command: SendNotice, channel: NoticeChannel, address: str | None, reason: str, reasons: list[str]
) -> NoticeFailed:
    """The channel's NotificationForAcceptanceFailure, with every channel tried so far."""
    return NoticeFailed(
        correlation_id=command.correlation_id,
        notice_id=command.message_id,
        item_number=command.item_number,
        channel=channel,
        address=address or "",
        reason=reason,
        permanent=True,
        kind=command.kind,
        attempts=tuple(reasons),
    )


async def _deliver(
    adapter: Channel | None, notice: Notice, channel: NoticeChannel, address: str | None, key: UUID
) -> str:
    if not address:
        raise PermanentDeliveryError(f"no address for the {channel} channel in the command")
    if adapter is None:
        raise PermanentDeliveryError(f"the {channel} channel is not available")
    return await adapter.deliver(notice, address, key)


def _sent(
    command: SendNotice | SendCode | SendCaseConfirmation, channel: NoticeChannel, address: str, kind: str
) -> Attempt:
    """The attempt as recorded when the provider takes the message."""
    return Attempt(command.message_id, command.correlation_id, channel, address, "sent", kind=kind)


async def _attempted(delivery: Callable[[], Awaitable[str]], sent: Attempt, attempts: AttemptLog) -> str:
    """The provider's id for the message `delivery` sends, with the attempt marked `sending`
    before and recorded after whatever its outcome (`sent`: as recorded when the provider
    takes it); a delivery error goes on to the caller, a transient one up to the bus, which
    retries the command later. Already taken by the provider on an earlier delivery of the
    command: not sent again, the provider's id as recorded then."""
    previous = await attempts.begin(replace(sent, outcome="sending"))
    step = redelivery(previous)
    if step is Redelivery.sent and previous is not None:
        return previous.provider_message_id or ""
    if step is Redelivery.resend:
        # Between the provider's answer and our record of it, the process stopped: the
        # provider may have the message already; the resend carries the same identity.
        log.warning(
            "resending a %s the provider may have taken already (its outcome was never recorded)",
            sent.kind,
            extra={
                "letter_id": str(sent.letter_id),
                "message_id": str(sent.notice_id),
                "channel": sent.channel.value,
            },
        )
    try:
        provider_id = await delivery()
    except PermanentDeliveryError as exc:
        await attempts.record(replace(sent, outcome="failed", reason=str(exc)))
        raise
    except TransientDeliveryError as exc:
        await attempts.record(replace(sent, outcome="deferred", reason=str(exc)))
        raise
    await attempts.record(replace(sent, provider_message_id=provider_id))
    return provider_id


async def _send_by_chosen_channel(
    command: SendCode | SendCaseConfirmation,
    kind: str,
    email: Email,
    text: str,
    *,
    mailer: Mailer,
    texts: TextMessenger,
    attempts: AttemptLog,
) -> str:
    """Send `email` or `text`, by the channel the recipient chose; the attempt is recorded."""
    channel = NoticeChannel(command.channel)

    def delivery() -> Awaitable[str]:
        if channel is NoticeChannel.email:
            return mailer.send(replace(email, key=delivery_key(command.message_id, channel)))
        return texts.send_text(command.address, text)

    return await _attempted(delivery, _sent(command, channel, command.address, kind), attempts)


async def send_code(
    command: SendCode,
    uow: UnitOfWork,
    *,
    mailer: Mailer,
    texts: TextMessenger,
    attempts: AttemptLog,
) -> Message | None:
    """A one-time signing code, by email or SMS only; no fallback (the recipient chose)."""
    message = code_text(command.code, command.expires_at, command.language)
    email = Email(command.address, message.subject, message.text)
    try:
        provider_id = await _send_by_chosen_channel(
            command, "code", email, message.text, mailer=mailer, texts=texts, attempts=attempts
        )
    except PermanentDeliveryError as exc:
        await uow.publish(
            CodeFailed(
                correlation_id=command.correlation_id,
                code_id=command.message_id,
                channel=command.channel,
                reason=str(exc),
            )
        )
        return None
    await uow.publish(
        CodeSent(
            correlation_id=command.correlation_id,
            code_id=command.message_id,
            channel=command.channel,
            sent_at=now_utc(),
            provider_message_id=provider_id,
        )
    )
    return None


async def send_case_confirmation(
    command: SendCaseConfirmation,
    uow: UnitOfWork,
    *,
    mailer: Mailer,
    texts: TextMessenger,
    attempts: AttemptLog,
) -> Message | None:
    """The recipient's verification case is open: its reference, how to send the documents
    and which ones, by the channel chosen for the code. A confirmation that cannot be sent
    for good is recorded and dropped: the pickup site shows the same, and the case goes on."""
    confirmation = CaseConfirmation(
        reference=command.reference,
        document_channel=command.document_channel,
        document_address=command.document_address,
        required_documents=command.required_documents,
        code_channel=command.channel,
        language=command.language,
    )
    text = confirmation_email(confirmation)
    email = Email(command.address, text.subject, text.text)
    with suppress(PermanentDeliveryError):
        await _send_by_chosen_channel(
            command,
            "confirmation",
            email,
            confirmation_sms(confirmation),
            mailer=mailer,
            texts=texts,
            attempts=attempts,
        )
    return None
