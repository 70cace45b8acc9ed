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
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from contextlib import suppress
from dataclasses import replace
from datetime import timedelta

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
from notifier.domain.delivery import Attempt, PermanentDeliveryError, TransientDeliveryError
from notifier.domain.email import Email
from notifier.domain.notice import Notice
from notifier.service_layer import reminders
from notifier.service_layer.ports import AttemptLog, Channel, Mailer, TextMessenger, UnitOfWork


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
            delivery = _deliver(channels.get(channel), notice, channel, address)
            sent = _sent(command, channel, address or "", command.kind.value)
            provider_id = await _attempted(delivery, sent, attempts)
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
    adapter: Channel | None, notice: Notice, channel: NoticeChannel, address: str | None
) -> str:
    if not address:
        raise PermanentDeliveryError(f"no address for the {channel} channel in the command")
    if adapter is None:
        raise PermanentDeliveryError(f"the {channel} channel is not available")
    return await adapter.deliver(notice, address)


def _sent(
    command: SendNotice | SendCode | SendCaseConfirmation, channel: NoticeChannel, address: str, kind: str
) -> Attempt:
    """The attempt as recorded when the provider takes the message."""
    return Attempt(command.message_id, command.correlation_id, channel, address, "sent", kind=kind)


async def _attempted(delivery: Awaitable[str], sent: Attempt, attempts: AttemptLog) -> str:
    """The provider's id for the message `delivery` sends, with the attempt recorded whatever
    its outcome (`sent`: as recorded when the provider takes it); a delivery error goes on to
    the caller, a transient one up to the bus, which retries the command later."""
    try:
        provider_id = await delivery
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
    if channel is NoticeChannel.email:
        delivery = mailer.send(email)
    else:
        delivery = texts.send_text(command.address, text)
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
