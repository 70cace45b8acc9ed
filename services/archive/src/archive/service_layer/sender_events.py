"""What a sender is told of its letters: one `SenderEvent` a fact, on `lre.senders.events`.

The archive is the one voice towards senders. Every fact a sender may act on (its deposit
taken or refused, a notice sent or failed on a channel, the letter accepted, refused or
unclaimed, the acknowledgement of receipt signed, the content downloaded or expired, a proof
sealed) is turned into a `SenderEvent` in the same unit of work as the archive's own handling
of that fact, so the event leaves through the outbox if and only if that handling commits,
under routing key `<sender id>.<event>` (`SenderEvent.sender_key`): a sender's queue bound
`<sender id>.#` gets its own letters and nothing else (internal events stay internal).

Order: each event takes the letter's next `sequence` number, from 1, with the letter's
number row locked until the commit (`SenderStreams`), so events are numbered in the order
their transactions commit, and their outbox rows are written in that order. One archive
replica publishes its outbox in row order; with several replicas (each relay takes its own
rows), or after a failed publish is retried, a later event may overtake an earlier one on the
wire: receivers order a letter's events by `sequence`, and a gap says one is still to come.
Delivery is at least once: a receiver deduplicates by `message_id`.

Notices: the first notice of each channel and its failure (ETSI EN 319 522
NotificationForAcceptance / NotificationForAcceptanceFailure); reminders are not relayed.
Proofs: the proof's kind and SHA-256, never the PDF (the sender fetches it from the signer).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from archive.service_layer.ports import UnitOfWork
from lre_shared.contracts import (
    ContentHandedOver,
    ContentHandoverFailed,
    LetterAccepted,
    LetterDeposited,
    LetterRefused,
    LetterRejected,
    LetterUnclaimed,
    Message,
    NoticeFailed,
    NoticeKind,
    NoticeSent,
    ProofIssued,
    ReceiptSigned,
    SenderEvent,
    SenderEventKind,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
U = TypeVar("U", bound=UnitOfWork)
R = TypeVar("R")


def _fact(message: Message) -> tuple[SenderEventKind, datetime, dict[str, Any]] | None:
    """The sender event a message of the letter's life makes (kind, when, what it adds), or
    None when the sender is not told of it."""
    match message:
        case LetterDeposited():
            return SenderEventKind.deposited, message.deposited_at, {}
        case NoticeSent(kind=NoticeKind.notice):
            return SenderEventKind.notice_sent, message.sent_at, {"channel": message.channel}
        case NoticeFailed(kind=NoticeKind.notice):
            facts = {"channel": message.channel, "reason": message.reason}
            return SenderEventKind.notice_failed, message.occurred_at, facts
        case LetterAccepted():
            return SenderEventKind.accepted, message.accepted_at, {}
        case LetterRefused():
            return SenderEventKind.refused, message.refused_at, {}
        case LetterUnclaimed():
            return SenderEventKind.unclaimed, message.window_closed_at, {}
        case ReceiptSigned():
            return SenderEventKind.receipt_signed, message.signed_at, {}
        case ContentHandedOver():
            return SenderEventKind.downloaded, message.handed_over_at, {}
        case ContentHandoverFailed():
            return SenderEventKind.content_expired, message.window_closed_at, {}
        case ProofIssued():
            proof = {"proof_kind": message.kind.value, "proof_sha256": message.sha256}
            return SenderEventKind.proof_available, message.occurred_at, proof
    return None


async def tell_sender(message: Message, uow: UnitOfWork) -> None:
    """Write the sender event `message` makes, if any, to the outbox of `uow`, numbered next
    in its letter's sequence."""
    if isinstance(message, LetterRejected):
        await _tell_rejected(message, uow)
        return
    fact = _fact(message)
    if fact is None:
        return
    kind, event_time, details = fact
    stream = await uow.sender_streams.next_of_letter(message.correlation_id)
    if stream is None:
        log.warning(
            "%s of a letter the archive does not hold: its sender is not told",
            kind.value,
            extra={"letter_id": str(message.correlation_id), "message_id": str(message.message_id)},
        )
        return
    await uow.publish(
        SenderEvent(
            correlation_id=message.correlation_id,
            sender_id=stream.sender_id,
            event=kind,
            sequence=stream.sequence,
            item_number=stream.item_number,
            idempotency_key=stream.idempotency_key,
            event_time=event_time,
            **details,
        )
    )


async def _tell_rejected(rejected: LetterRejected, uow: UnitOfWork) -> None:
    # ETSI EN 319 522 SubmissionRejection: no letter row, so no item number; the sender is
    # the one the refusal names (for a deposit that does not parse, the one its publisher
    # is taken for).
    sequence = await uow.sender_streams.next_of_deposit(rejected.correlation_id, rejected.sender_id)
    await uow.publish(
        SenderEvent(
            correlation_id=rejected.correlation_id,
            sender_id=rejected.sender_id,
            event=SenderEventKind.rejected,
            sequence=sequence,
            idempotency_key=rejected.idempotency_key,
            event_time=rejected.occurred_at,
            problems=rejected.problems,
        )
    )


def telling(use_case: Callable[[M, U], Awaitable[R]]) -> Callable[[M, U], Awaitable[R]]:
    """`use_case`, then its message told to the sender, in the same unit of work."""

    async def handle(message: M, uow: U) -> R:
        result = await use_case(message, uow)
        await tell_sender(message, uow)
        return result

    return handle


async def publish_and_tell(uow: UnitOfWork, message: Message) -> None:
    """Publish one of the archive's own events, and tell its sender, in one unit of work."""
    await uow.publish(message)
    await tell_sender(message, uow)
