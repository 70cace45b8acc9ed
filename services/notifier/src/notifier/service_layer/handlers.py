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

from collections.abc import Mapping
from datetime import timedelta

from lre_shared.bus import Transaction
from lre_shared.messages import (
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
    now_utc,
)
from notifier.adapters.attempts import Attempt, AttemptLog
from notifier.adapters.channels import Channel, TextMessenger
from notifier.adapters.email import Email, Mailer
from notifier.domain.code import code_text
from notifier.domain.confirmation import CaseConfirmation, confirmation_email, confirmation_sms
from notifier.domain.delivery import PermanentDeliveryError, TransientDeliveryError
from notifier.domain.notice import Notice
from notifier.service_layer import reminders


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
    tx: Transaction,
    *,
    channels: Mapping[NoticeChannel, Channel],
    attempts: AttemptLog,
    pickup_url: str,
    reminder_every: timedelta | None = None,
    opt_out_url: str | None = None,
) -> Message | None:
    opt_out = None
    if command.kind is NoticeKind.reminder:
        schedule = await reminders.active(tx, command.correlation_id)
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
            await tx.publish(_failed(command, channel, address, failed_before[channel], reasons))
            continue
        adapter = channels.get(channel)
        try:
            if not address:
                raise PermanentDeliveryError(f"no address for the {channel} channel in the command")
            if adapter is None:
                raise PermanentDeliveryError(f"the {channel} channel is not available")
            provider_id = await adapter.deliver(notice, address)
        except PermanentDeliveryError as exc:
            await attempts.record(_attempt(command, channel, address, "failed", str(exc)))
            reasons.append(f"{channel}: {exc}")
            await tx.publish(_failed(command, channel, address, str(exc), reasons))
            continue
        except TransientDeliveryError as exc:
            await attempts.record(_attempt(command, channel, address, "deferred", str(exc)))
            raise  # the bus returns the command and retries it later
        sent_at = now_utc()
        await attempts.record(_attempt(command, channel, address, "sent", None, provider_id))
        await tx.publish(
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
        await tx.conn.execute(
            "INSERT INTO notices (notice_id, letter_id, command) VALUES ($1, $2, $3::jsonb)"
            " ON CONFLICT (notice_id) DO NOTHING",
            command.message_id,
            command.correlation_id,
            command.model_dump_json(),
        )
        if command.kind is NoticeKind.notice and reminder_every is not None:
            await reminders.schedule(tx, command, sent_at, reminder_every)
        return None
    return None


def _failed(
    command: SendNotice, channel: NoticeChannel, address: str | None, reason: str, reasons: list[str]
) -> NoticeFailed:
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


def _attempt(
    command: SendNotice,
    channel: NoticeChannel,
    address: str | None,
    outcome: str,
    reason: str | None,
    provider_id: str | None = None,
) -> Attempt:
    return Attempt(
        command.message_id,
        command.correlation_id,
        channel,
        address or "",
        outcome,
        reason,
        provider_id,
        command.kind.value,
    )


async def send_code(
    command: SendCode,
    tx: Transaction,
    *,
    mailer: Mailer,
    texts: TextMessenger,
    attempts: AttemptLog,
) -> Message | None:
    """A one-time signing code, by email or SMS only; no fallback (the recipient chose)."""
    message = code_text(command.code, command.expires_at, command.language)
    channel = NoticeChannel(command.channel)

    def attempt(outcome: str, reason: str | None = None, provider_id: str | None = None) -> Attempt:
        return Attempt(
            command.message_id,
            command.correlation_id,
            channel,
            command.address,
            outcome,
            reason,
            provider_id,
            "code",
        )

    try:
        if channel is NoticeChannel.email:
            provider_id = await mailer.send(Email(command.address, message.subject, message.text))
        else:
            provider_id = await texts.send_text(command.address, message.text)
    except PermanentDeliveryError as exc:
        await attempts.record(attempt("failed", str(exc)))
        await tx.publish(
            CodeFailed(
                correlation_id=command.correlation_id,
                code_id=command.message_id,
                channel=command.channel,
                reason=str(exc),
            )
        )
        return None
    except TransientDeliveryError as exc:
        await attempts.record(attempt("deferred", str(exc)))
        raise
    await attempts.record(attempt("sent", None, provider_id))
    await tx.publish(
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
    tx: Transaction,
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
    channel = NoticeChannel(command.channel)

    def attempt(outcome: str, reason: str | None = None, provider_id: str | None = None) -> Attempt:
        return Attempt(
            command.message_id,
            command.correlation_id,
            channel,
            command.address,
            outcome,
            reason,
            provider_id,
            "confirmation",
        )

    try:
        if channel is NoticeChannel.email:
            email = confirmation_email(confirmation)
            provider_id = await mailer.send(Email(command.address, email.subject, email.text))
        else:
            provider_id = await texts.send_text(command.address, confirmation_sms(confirmation))
    except PermanentDeliveryError as exc:
        await attempts.record(attempt("failed", str(exc)))
        return None
    except TransientDeliveryError as exc:
        await attempts.record(attempt("deferred", str(exc)))
        raise
    await attempts.record(attempt("sent", None, provider_id))
    return None
