"""What a sender is told of its letters (`archive.service_layer.sender_events`): one event a
fact, in the unit of work that handles the fact, numbered per letter from 1, routed
`<sender id>.<event>`; with the archive's records in memory."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from functools import partial
from uuid import UUID, uuid4

from archive.domain.expiry import RetentionPolicy
from archive.domain.submission import Limits
from archive.service_layer import expiry
from archive.service_layer.handlers import record_download, refuse_malformed_deposit, submit_letter
from archive.service_layer.sender_events import tell_sender, telling
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared import outbox
from lre_shared.bus import Fault
from lre_shared.contracts import (
    Document,
    LetterAccepted,
    LetterRefused,
    LetterUnclaimed,
    NoticeChannel,
    NoticeFailed,
    NoticeKind,
    NoticeSent,
    ProofIssued,
    ProofKind,
    ReceiptSigned,
    SenderEvent,
    SenderEventKind,
    SignatureMethod,
    SubmitLetter,
)
from lre_shared.rules import FR_LRE
from services.archive.tests.unit.fakes import FakeStore, FakeUnitOfWork

LIMITS = Limits(document_bytes=1_000_000, letter_bytes=2_000_000, embedded_bytes=1_000_000, attachments=3)
POLICY = RetentionPolicy(FR_LRE)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def a_submission(content: bytes, *, key: str | None = None) -> SubmitLetter:
    return SubmitLetter(
        correlation_id=uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="lettre.pdf", content=content),
        idempotency_key=key,
    )


async def deposit(uow: FakeUnitOfWork, command: SubmitLetter) -> None:
    await submit_letter(command, uow, store=FakeStore(), limits=LIMITS)  # type: ignore[arg-type]


def notice(letter_id: UUID, channel: NoticeChannel, kind: NoticeKind = NoticeKind.notice) -> NoticeSent:
    return NoticeSent(
        correlation_id=letter_id,
        notice_id=uuid4(),
        item_number="123456789012",
        channel=channel,
        address="x@example.org",
        sent_at=NOW,
        kind=kind,
    )


def told(uow: FakeUnitOfWork, letter_id: UUID) -> list[tuple[int, SenderEventKind]]:
    return [(e.sequence, e.event) for e in uow.told if e.correlation_id == letter_id]


async def test_a_deposit_is_told_to_its_sender_first_with_its_item_number_and_key() -> None:
    uow = FakeUnitOfWork()
    command = a_submission(demo_pdf(), key="dossier-117")

    await deposit(uow, command)

    [event] = uow.told
    [deposited] = uow.published
    assert (event.event, event.sequence) == (SenderEventKind.deposited, 1)
    assert event.sender_key == f"{DEMO_SENDER.id}.deposited"
    assert (event.correlation_id, event.sender_id) == (command.correlation_id, DEMO_SENDER.id)
    assert event.item_number == deposited.item_number  # type: ignore[attr-defined]
    assert event.idempotency_key == "dossier-117"
    assert event.event_time == deposited.deposited_at  # type: ignore[attr-defined]


async def test_a_refused_deposit_is_told_with_every_problem_and_no_item_number() -> None:
    uow = FakeUnitOfWork()
    command = a_submission(b"PK\x03\x04 a zip, not a PDF")

    await deposit(uow, command)

    [event] = uow.told
    [rejected] = uow.published
    assert (event.event, event.sequence, event.item_number) == (SenderEventKind.rejected, 1, None)
    assert event.sender_key == f"{DEMO_SENDER.id}.rejected"
    assert event.problems == rejected.problems  # type: ignore[attr-defined]
    assert "main_document.content" in {p.field for p in event.problems}


async def test_a_deposit_that_does_not_parse_is_told_to_the_sender_it_names() -> None:
    uow, letter_id = FakeUnitOfWork(), uuid4()
    body = f'{{"correlation_id": "{letter_id}", "sender": {{"id": "acme"}}, "alert_channels": ["pigeon"]}}'

    refused = await refuse_malformed_deposit(
        body.encode(),
        (Fault("alert_channels[0]", "not a channel"),),
        uow,  # type: ignore[arg-type]
    )

    assert refused
    [event] = uow.told
    assert (event.sender_key, event.correlation_id, event.sequence) == ("acme.rejected", letter_id, 1)


async def test_a_letter_s_life_is_told_in_order_numbered_from_one_without_gap() -> None:
    uow = FakeUnitOfWork()
    command = a_submission(demo_pdf())
    await deposit(uow, command)
    letter_id = command.correlation_id
    [deposited] = uow.published
    item = deposited.item_number  # type: ignore[attr-defined]
    pdf = b"%PDF-1.7 receipt proof"

    await telling(partial(expiry.on_notice_sent, policy=POLICY))(notice(letter_id, NoticeChannel.email), uow)
    await telling(partial(expiry.on_notice_sent, policy=POLICY))(notice(letter_id, NoticeChannel.sms), uow)
    await telling(partial(expiry.on_letter_accepted, policy=POLICY))(
        LetterAccepted(correlation_id=letter_id, item_number=item, accepted_at=NOW), uow
    )
    await tell_sender(
        ProofIssued(
            correlation_id=letter_id,
            item_number=item,
            kind=ProofKind.receipt,
            filename="preuve.pdf",
            pdf=pdf,
            sha256=hashlib.sha256(pdf).hexdigest(),
        ),
        uow,  # type: ignore[arg-type]
    )
    await telling(partial(expiry.on_receipt_signed, policy=POLICY))(
        ReceiptSigned(
            correlation_id=letter_id,
            item_number=item,
            method=SignatureMethod.certificate,
            signed_at=NOW,
            signer_name="Camille Martin",
        ),
        uow,
    )
    await record_download(uow, letter_id, clock=lambda: NOW)

    assert told(uow, letter_id) == [
        (1, SenderEventKind.deposited),
        (2, SenderEventKind.notice_sent),
        (3, SenderEventKind.notice_sent),
        (4, SenderEventKind.accepted),
        (5, SenderEventKind.proof_available),
        (6, SenderEventKind.receipt_signed),
        (7, SenderEventKind.downloaded),
    ]
    assert [e.channel for e in uow.told if e.event is SenderEventKind.notice_sent] == ["email", "sms"]
    proof = next(e for e in uow.told if e.event is SenderEventKind.proof_available)
    assert (proof.proof_kind, proof.proof_sha256) == ("receipt", hashlib.sha256(pdf).hexdigest())
    assert "pdf" not in proof.model_dump()  # the proof's hash, never its bytes


async def test_reminders_are_not_told_but_a_failed_notice_is_with_its_channel_and_reason() -> None:
    uow = FakeUnitOfWork()
    command = a_submission(demo_pdf())
    await deposit(uow, command)
    letter_id = command.correlation_id

    await tell_sender(notice(letter_id, NoticeChannel.email, NoticeKind.reminder), uow)  # type: ignore[arg-type]
    failed = NoticeFailed(
        correlation_id=letter_id,
        notice_id=uuid4(),
        item_number="123456789012",
        channel=NoticeChannel.email,
        address="x@example.org",
        reason="550 mailbox unavailable",
        permanent=True,
    )
    await tell_sender(failed, uow)  # type: ignore[arg-type]

    assert told(uow, letter_id) == [(1, SenderEventKind.deposited), (2, SenderEventKind.notice_failed)]
    assert (uow.told[-1].channel, uow.told[-1].reason) == ("email", "550 mailbox unavailable")
    assert uow.told[-1].sender_key == f"{DEMO_SENDER.id}.notice_failed"


async def test_a_refusal_and_an_unclaimed_letter_are_told() -> None:
    uow = FakeUnitOfWork()
    refused, unclaimed = a_submission(demo_pdf()), a_submission(demo_pdf())
    await deposit(uow, refused)
    await deposit(uow, unclaimed)

    await telling(expiry.on_letter_refused)(
        LetterRefused(correlation_id=refused.correlation_id, item_number="1", refused_at=NOW), uow
    )
    await telling(partial(expiry.on_letter_unclaimed, policy=POLICY))(
        LetterUnclaimed(correlation_id=unclaimed.correlation_id, item_number="2", window_closed_at=NOW), uow
    )

    assert told(uow, refused.correlation_id)[-1] == (2, SenderEventKind.refused)
    assert told(uow, unclaimed.correlation_id)[-1] == (2, SenderEventKind.unclaimed)
    assert uow.told[-1].event_time == NOW


async def test_content_deleted_without_a_download_is_told_as_expired() -> None:
    uow = FakeUnitOfWork()
    command = a_submission(demo_pdf())
    await deposit(uow, command)
    letter = uow.letters.rows[command.correlation_id]
    letter.update(accepted_at=NOW, content_expires_at=NOW + timedelta(hours=48))

    await expiry.sweep(uow, store=FakeStore(), clock=lambda: NOW + timedelta(hours=49))

    assert told(uow, command.correlation_id) == [
        (1, SenderEventKind.deposited),
        (2, SenderEventKind.content_expired),
    ]


async def test_a_deposit_asked_for_again_under_its_key_is_told_again_numbered_next() -> None:
    uow, pdf = FakeUnitOfWork(), demo_pdf()
    first = a_submission(pdf, key="dossier-118")
    await deposit(uow, first)

    await deposit(uow, a_submission(pdf, key="dossier-118"))

    assert told(uow, first.correlation_id) == [(1, SenderEventKind.deposited), (2, SenderEventKind.deposited)]
    assert uow.told[0].item_number == uow.told[1].item_number


async def test_a_fact_of_a_letter_the_archive_does_not_hold_is_told_to_no_one() -> None:
    uow = FakeUnitOfWork()

    await tell_sender(notice(uuid4(), NoticeChannel.email), uow)  # type: ignore[arg-type]

    assert uow.told == []


async def test_each_letter_is_numbered_on_its_own() -> None:
    uow = FakeUnitOfWork()
    one, two = a_submission(demo_pdf()), a_submission(demo_pdf())
    await deposit(uow, one)
    await deposit(uow, two)

    await tell_sender(notice(one.correlation_id, NoticeChannel.email), uow)  # type: ignore[arg-type]

    assert told(uow, one.correlation_id) == [(1, SenderEventKind.deposited), (2, SenderEventKind.notice_sent)]
    assert told(uow, two.correlation_id) == [(1, SenderEventKind.deposited)]


def test_a_sender_event_is_published_under_its_sender_s_key_not_its_contract_s() -> None:
    event = SenderEvent(
        correlation_id=uuid4(), sender_id="acme", event=SenderEventKind.accepted, sequence=3, event_time=NOW
    )

    outgoing = outbox.outgoing(event)

    assert (outgoing.exchange, outgoing.routing_key) == ("lre.senders.events", "acme.accepted")
    assert SenderEvent.routing_key == "sender_event.v1"
