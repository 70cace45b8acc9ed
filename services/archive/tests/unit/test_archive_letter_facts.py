"""What the archive records of a letter after its deposit, and what it answers from it: the
sender's status, the content's expiry and its deletion, with the records in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from archive.domain.expiry import RetentionPolicy
from archive.service_layer.expiry import on_letter_accepted, on_notice_sent, on_receipt_signed, sweep
from archive.service_layer.status import get_letter_status
from lre_shared.contracts import (
    ContentHandoverFailed,
    GetLetterStatus,
    LetterAccepted,
    LetterRejected,
    NoticeChannel,
    NoticeSent,
    Problem,
    ReceiptSigned,
    StoredDocument,
)
from lre_shared.rules import FR_LRE
from services.archive.tests.unit.fakes import FakeStore, FakeUnitOfWork, deposited_letter

POLICY = RetentionPolicy(FR_LRE)
DEPOSITED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def a_letter(uow: FakeUnitOfWork, **facts: datetime | None) -> UUID:
    letter_id = uuid4()
    deposited_letter(uow.letters, letter_id, sender_id="acme", deposited_at=DEPOSITED, **facts)
    return letter_id


def a_notice(letter_id: UUID, sent_at: datetime, channel: NoticeChannel = NoticeChannel.email) -> NoticeSent:
    return NoticeSent(
        correlation_id=letter_id,
        notice_id=uuid4(),
        item_number="123456789012",
        channel=channel,
        address="x@example.org",
        sent_at=sent_at,
    )


async def test_a_sender_sees_where_its_letter_stands() -> None:
    uow = FakeUnitOfWork()
    accepted = DEPOSITED + timedelta(days=1)
    letter_id = a_letter(uow, first_notice_at=DEPOSITED, accepted_at=accepted)

    status = await get_letter_status(GetLetterStatus(correlation_id=letter_id, sender_id="acme"), uow)

    assert (status.state, status.stage, status.letter_id) == ("deposited", "accepted", letter_id)
    assert (status.notified_at, status.accepted_at) == (DEPOSITED, accepted)


async def test_another_sender_learns_nothing_of_the_letter() -> None:
    uow = FakeUnitOfWork()
    letter_id = a_letter(uow)

    status = await get_letter_status(GetLetterStatus(correlation_id=letter_id, sender_id="other"), uow)

    assert status.state == "unknown"
    assert status.letter_id is None


async def test_a_refusal_under_an_idempotency_key_is_found_by_that_key() -> None:
    uow, letter_id = FakeUnitOfWork(), uuid4()
    problem = Problem(field="main_document", reason="not a PDF")
    await uow.rejections.add(
        LetterRejected(correlation_id=letter_id, sender_id="acme", problems=(problem,), idempotency_key="k-1")
    )

    query = GetLetterStatus(correlation_id=uuid4(), sender_id="acme", idempotency_key="k-1")
    status = await get_letter_status(query, uow)

    assert (status.state, status.letter_id, status.problems) == ("rejected", letter_id, (problem,))


async def test_deleted_content_has_no_expiry_to_come() -> None:
    uow = FakeUnitOfWork()
    letter_id = a_letter(uow, content_deleted_at=DEPOSITED, content_expires_at=DEPOSITED)

    status = await get_letter_status(GetLetterStatus(correlation_id=letter_id, sender_id="acme"), uow)

    assert status.content_deleted_at == DEPOSITED
    assert status.content_expires_at is None


async def test_the_first_email_notice_starts_the_window_and_schedules_the_content_s_end() -> None:
    uow = FakeUnitOfWork()
    letter_id = a_letter(uow)

    await on_notice_sent(a_notice(letter_id, DEPOSITED), uow, policy=POLICY)

    closes = POLICY.window_closes_at(DEPOSITED)
    facts = uow.letters.rows[letter_id].facts
    assert facts.first_notice_at == DEPOSITED
    assert facts.content_expires_at == closes + timedelta(hours=FR_LRE.content_grace_hours)


async def test_an_sms_alert_starts_no_window() -> None:
    uow = FakeUnitOfWork()
    letter_id = a_letter(uow)

    await on_notice_sent(a_notice(letter_id, DEPOSITED, NoticeChannel.sms), uow, policy=POLICY)

    assert uow.letters.rows[letter_id].facts.first_notice_at is None
    assert uow.letters.rows[letter_id].facts.content_expires_at is None


async def test_the_signed_receipt_opens_the_download_window_from_the_signature() -> None:
    uow = FakeUnitOfWork()
    letter_id = a_letter(uow)
    accepted, signed = DEPOSITED + timedelta(days=2), DEPOSITED + timedelta(days=5)

    await on_letter_accepted(
        LetterAccepted(correlation_id=letter_id, item_number="123456789012", accepted_at=accepted),
        uow,
        policy=POLICY,
    )
    await on_receipt_signed(
        ReceiptSigned(
            correlation_id=letter_id,
            item_number="123456789012",
            method="one_time_code",
            signed_at=signed,
            signer_name="Jeanne Martin",
        ),
        uow,
        policy=POLICY,
    )

    assert uow.letters.rows[letter_id].facts.content_expires_at == signed + timedelta(hours=48)


async def test_the_sweeper_deletes_due_content_and_reports_an_accepted_letter_never_downloaded() -> None:
    uow, store = FakeUnitOfWork(), FakeStore()
    due = a_letter(uow, accepted_at=DEPOSITED, content_expires_at=DEPOSITED + timedelta(days=1))
    later = a_letter(uow, content_expires_at=DEPOSITED + timedelta(days=30))
    stored = StoredDocument(document_id=uuid4(), filename="lettre.pdf", size=4, sha256="a" * 64, role="main")
    await uow.documents.add(due, [(stored, "letters/due/a")])
    store.objects["letters/due/a"] = (b"%PDF", "a" * 64)

    swept = await sweep(uow, store=store, clock=lambda: DEPOSITED + timedelta(days=2))

    assert swept == 1
    assert store.objects == {}
    assert uow.letters.rows[due].facts.content_deleted_at == DEPOSITED + timedelta(days=2)
    assert uow.letters.rows[later].facts.content_deleted_at is None
    [failed] = uow.published
    assert isinstance(failed, ContentHandoverFailed)
    assert failed.correlation_id == due
