"""Archive handlers, with a fake content store and the archive's records in memory."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from archive.domain.item_number import is_valid_item_number
from archive.domain.links import Links, check_link, document_path
from archive.domain.submission import Limits, submission_fingerprint
from archive.service_layer.handlers import issue_download_link, submit_letter
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.bus import PermanentError
from lre_shared.contracts import (
    Document,
    DownloadLinkIssued,
    IssueDownloadLink,
    LetterDeposited,
    LetterRejected,
    Message,
    NoticeChannel,
    StoredDocument,
    SubmitLetter,
)
from services.archive.tests.unit.fakes import (
    DocumentRow,
    FakeLetters,
    FakeStore,
    FakeUnitOfWork,
    deposited_letter,
)

LIMIT = 1_000_000
LIMITS = Limits(document_bytes=LIMIT, letter_bytes=2 * LIMIT, embedded_bytes=LIMIT, attachments=3)
LIFETIME = timedelta(minutes=10)


def a_submission(content: bytes, filename: str = "lettre.pdf") -> SubmitLetter:
    return SubmitLetter(
        correlation_id=uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename=filename, content=content),
    )


async def submit(command: SubmitLetter, uow: FakeUnitOfWork, store: FakeStore) -> Message | None:
    return await submit_letter(command, uow, store=store, limits=LIMITS)  # type: ignore[arg-type]


async def test_a_valid_letter_is_stored_under_a_key_containing_its_sha256() -> None:
    pdf = demo_pdf()
    command = a_submission(pdf)
    uow, store = FakeUnitOfWork(), FakeStore()

    await submit(command, uow, store)

    digest = hashlib.sha256(pdf).hexdigest()
    [(key, (content, sha256))] = store.objects.items()
    assert digest in key
    assert str(command.correlation_id) in key
    assert content == pdf
    assert sha256 == digest


async def test_a_valid_letter_publishes_one_letter_deposited_describing_the_document() -> None:
    pdf = demo_pdf()
    command = a_submission(pdf)
    uow = FakeUnitOfWork()

    result = await submit(command, uow, FakeStore())

    assert result is None
    [event] = uow.published
    assert isinstance(event, LetterDeposited)
    assert event.correlation_id == command.correlation_id
    [document] = event.documents
    assert document.sha256 == hashlib.sha256(pdf).hexdigest()
    assert document.size == len(pdf)
    assert document.filename == "lettre.pdf"


async def test_a_valid_letter_gets_a_valid_item_number() -> None:
    uow = FakeUnitOfWork()

    await submit(a_submission(demo_pdf()), uow, FakeStore())

    [event] = uow.published
    assert isinstance(event, LetterDeposited)
    assert is_valid_item_number(event.item_number)


async def test_the_published_item_number_is_the_one_recorded_for_the_letter() -> None:
    command, uow = a_submission(demo_pdf()), FakeUnitOfWork()

    await submit(command, uow, FakeStore())

    [event] = uow.published
    assert isinstance(event, LetterDeposited)
    assert uow.letters.rows[command.correlation_id].facts.item_number == event.item_number


async def test_a_valid_letter_passes_sender_recipient_and_policy_on() -> None:
    command = a_submission(demo_pdf()).model_copy(update={"verification_policy": "cnb"})
    uow = FakeUnitOfWork()

    await submit(command, uow, FakeStore())

    [event] = uow.published
    assert isinstance(event, LetterDeposited)
    assert event.sender == DEMO_SENDER
    assert event.recipient == DEMO_RECIPIENT
    assert event.verification_policy == "cnb"


async def test_the_document_row_records_the_stored_key_and_hash() -> None:
    pdf = demo_pdf()
    uow, store = FakeUnitOfWork(), FakeStore()

    await submit(a_submission(pdf), uow, store)

    [document] = uow.letters.documents.values()
    [key] = store.objects
    assert (document.stored.sha256, document.object_key) == (hashlib.sha256(pdf).hexdigest(), key)


async def test_an_item_number_collision_draws_again() -> None:
    uow = FakeUnitOfWork(letters=FakeLetters(taken_numbers=2))

    await submit(a_submission(demo_pdf()), uow, FakeStore())

    drawn = [added.item_number for added in uow.letters.added]
    [event] = uow.published
    assert isinstance(event, LetterDeposited)
    assert len(drawn) == 3
    assert event.item_number == drawn[-1]


async def test_a_non_pdf_named_pdf_is_rejected_on_main_document_content() -> None:
    command = a_submission(b"\x89PNG\r\n\x1a\n fake image", filename="lettre.pdf")
    uow = FakeUnitOfWork()

    await submit(command, uow, FakeStore())

    [event] = uow.published
    assert isinstance(event, LetterRejected)
    assert [p.field for p in event.problems] == ["main_document.content"]
    assert event.sender_id == DEMO_SENDER.id
    assert event.correlation_id == command.correlation_id


async def test_a_rejected_letter_stores_nothing_and_keeps_only_the_refusal_for_its_status() -> None:
    uow, store = FakeUnitOfWork(), FakeStore()

    await submit(a_submission(b"not a pdf"), uow, store)

    assert store.objects == {}
    assert uow.letters.rows == {} and uow.letters.documents == {}
    [(sender_id, rejected)] = uow.rejections.rows.values()
    assert sender_id == DEMO_SENDER.id
    assert uow.published == [rejected]


async def test_an_oversize_letter_is_rejected_stating_the_limit() -> None:
    uow = FakeUnitOfWork()
    command = a_submission(demo_pdf())

    limits = Limits(document_bytes=100, embedded_bytes=100)
    await submit_letter(command, uow, store=FakeStore(), limits=limits)  # type: ignore[arg-type]

    [event] = uow.published
    assert isinstance(event, LetterRejected)
    assert "100 bytes" in event.problems[0].reason


async def test_a_reused_letter_id_is_a_permanent_error_that_stores_and_publishes_nothing() -> None:
    command, uow, store = a_submission(demo_pdf()), FakeUnitOfWork(), FakeStore()
    deposited_letter(uow.letters, command.correlation_id, deposited_at=datetime(2026, 3, 1, tzinfo=UTC))

    with pytest.raises(PermanentError, match="already used"):
        await submit(command, uow, store)

    assert store.objects == {}
    assert uow.published == []


def a_link_request() -> IssueDownloadLink:
    return IssueDownloadLink(correlation_id=uuid4(), document_id=uuid4())


AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LINKS = Links(b"k" * 32, "http://archive.internal:8101", LIFETIME, timedelta(minutes=5))


async def link(query: IssueDownloadLink, uow: FakeUnitOfWork) -> Message:
    return await issue_download_link(query, uow, links=LINKS, clock=lambda: AT)  # type: ignore[arg-type]


def a_document(
    uow: FakeUnitOfWork, query: IssueDownloadLink, key: str = "letters/x/y", **letter: Any
) -> None:
    """The document `query` asks for, of a letter accepted with its receipt signed unless
    `letter` says otherwise."""
    facts = {
        "accepted_at": datetime(2026, 3, 1, 10, tzinfo=UTC),
        "receipt_signed_at": datetime(2026, 3, 1, 10, 5, tzinfo=UTC),
    } | letter
    deposited_letter(
        uow.letters, query.correlation_id, deposited_at=datetime(2026, 3, 1, tzinfo=UTC), **facts
    )
    document = StoredDocument(
        document_id=query.document_id, filename="lettre.pdf", size=10, sha256="a" * 64, role="main"
    )
    uow.letters.documents[query.document_id] = DocumentRow(query.correlation_id, document, key)


def first_links(uow: FakeUnitOfWork) -> list[datetime]:
    return [d.first_link_at for d in uow.letters.documents.values() if d.first_link_at is not None]


async def test_a_link_for_an_unknown_document_has_an_empty_url_and_a_reason() -> None:
    query, uow = a_link_request(), FakeUnitOfWork()

    reply = await link(query, uow)

    assert isinstance(reply, DownloadLinkIssued)
    assert reply.url == ""
    assert reply.reason
    assert reply.expires_at is None
    assert reply.document_id == query.document_id
    assert reply.correlation_id == query.correlation_id


async def test_a_document_is_linked_only_for_its_own_letter() -> None:
    query, uow = a_link_request(), FakeUnitOfWork()
    a_document(uow, query)

    reply = await link(query.model_copy(update={"correlation_id": uuid4()}), uow)

    assert isinstance(reply, DownloadLinkIssued)
    assert reply.url == ""
    assert reply.reason == "no such document for this letter"
    assert first_links(uow) == []


async def test_a_link_for_a_known_document_is_signed_names_it_and_expires() -> None:
    query, uow = a_link_request(), FakeUnitOfWork()
    a_document(uow, query, f"letters/{query.correlation_id}/{'a' * 64}")

    reply = await link(query, uow)

    assert isinstance(reply, DownloadLinkIssued)
    path, _, signed = reply.url.removeprefix(LINKS.base_url).partition("?")
    assert path == document_path(query.correlation_id, query.document_id)
    expires = dict(part.split("=", 1) for part in signed.split("&"))
    assert check_link(LINKS.key, path, expires["expires"], expires["token"], AT) is None
    assert reply.reason is None
    assert reply.expires_at == AT + LIFETIME


async def test_a_link_records_when_one_was_first_issued_and_no_content_handover_yet() -> None:
    query, uow = a_link_request(), FakeUnitOfWork()
    a_document(uow, query)

    await link(query, uow)

    # The handover is the download itself, recorded once the document went out whole.
    assert first_links(uow) == [AT]
    assert uow.letters.rows[query.correlation_id].facts.handed_over_at is None
    assert uow.published == []


@pytest.mark.parametrize(
    ("letter", "reason"),
    [
        ({"accepted_at": None, "receipt_signed_at": None}, "not accepted"),
        ({"receipt_signed_at": None}, "acknowledgement of receipt is not signed"),
    ],
    ids=["not accepted", "receipt not signed"],
)
async def test_no_link_before_the_receipt_is_signed_whoever_asks(letter: dict[str, Any], reason: str) -> None:
    query, uow = a_link_request(), FakeUnitOfWork()
    a_document(uow, query, **letter)

    reply = await link(query, uow)

    assert isinstance(reply, DownloadLinkIssued)
    assert reply.url == ""
    assert reply.reason is not None and reason in reply.reason
    assert uow.published == []
    assert first_links(uow) == []


async def test_no_link_once_the_content_is_deleted() -> None:
    query, uow = a_link_request(), FakeUnitOfWork()
    a_document(uow, query, content_deleted_at=datetime(2026, 3, 1, tzinfo=UTC))

    reply = await link(query, uow)

    assert isinstance(reply, DownloadLinkIssued)
    assert reply.url == ""
    assert reply.reason is not None and "download window is over" in reply.reason
    assert first_links(uow) == []


async def test_attachments_are_stored_and_announced_after_the_main_document() -> None:
    main, extra = demo_pdf("principal"), demo_pdf("annexe")
    command = a_submission(main).model_copy(
        update={"attachments": (Document(filename="annexe.pdf", content=extra),)}
    )
    uow, store = FakeUnitOfWork(), FakeStore()

    await submit(command, uow, store)

    [event] = uow.published
    assert isinstance(event, LetterDeposited)
    assert [(d.role, d.filename) for d in event.documents] == [
        ("main", "lettre.pdf"),
        ("attachment", "annexe.pdf"),
    ]
    assert len(store.objects) == 2
    assert [d.stored.role for d in uow.letters.documents.values()] == ["main", "attachment"]


async def test_alert_channels_always_include_email_in_the_deposited_event() -> None:
    recipient = DEMO_RECIPIENT.model_copy(update={"mobile": "+33612345678"})
    command = a_submission(demo_pdf()).model_copy(
        update={"recipient": recipient, "alert_channels": (NoticeChannel.sms,)}
    )
    uow = FakeUnitOfWork()

    await submit(command, uow, FakeStore())

    [event] = uow.published
    assert isinstance(event, LetterDeposited)
    assert [c.value for c in event.alert_channels] == ["email", "sms"]
    assert event.recipient.mobile == "+33612345678"


async def test_a_deposit_records_its_idempotency_key_fingerprint_and_event() -> None:
    command = a_submission(demo_pdf()).model_copy(update={"idempotency_key": "k-1"})
    uow = FakeUnitOfWork()

    await submit(command, uow, FakeStore())

    [event] = uow.published
    assert isinstance(event, LetterDeposited)
    assert event.idempotency_key == "k-1"
    letter = uow.letters.rows[command.correlation_id]
    assert letter.facts.item_number == event.item_number
    assert (letter.idempotency_key, letter.fingerprint, letter.announcement) == (
        "k-1",
        submission_fingerprint(command),
        event.to_json(),
    )


async def test_the_same_key_with_the_same_content_announces_the_first_letter_again() -> None:
    first = a_submission(demo_pdf()).model_copy(update={"idempotency_key": "k-1"})
    uow = FakeUnitOfWork()
    await submit(first, uow, FakeStore())
    [announced] = uow.published
    retry = first.model_copy(update={"correlation_id": uuid4(), "message_id": uuid4()})
    store = FakeStore()

    await submit(retry, uow, store)

    assert store.objects == {}
    assert uow.published == [announced]
    assert list(uow.letters.rows) == [first.correlation_id]
    [(again, body)] = uow.published_again
    assert again.message_id == announced.message_id
    assert again.correlation_id == first.correlation_id
    assert body == announced.to_json()


async def test_the_same_key_with_other_content_is_rejected_naming_the_first_letter() -> None:
    first = a_submission(demo_pdf("premier")).model_copy(update={"idempotency_key": "k-1"})
    other = a_submission(demo_pdf("autre")).model_copy(update={"idempotency_key": "k-1"})
    uow = FakeUnitOfWork()
    await submit(first, uow, FakeStore())
    store = FakeStore()

    await submit(other, uow, store)

    [_, event] = uow.published
    assert isinstance(event, LetterRejected)
    assert [p.field for p in event.problems] == ["idempotency_key"]
    assert str(first.correlation_id) in event.problems[0].reason
    assert event.idempotency_key == "k-1"
    assert store.objects == {}


async def test_an_unknown_sender_is_rejected_when_an_allow_list_is_set() -> None:
    uow = FakeUnitOfWork()

    await submit_letter(
        a_submission(demo_pdf()),
        uow,  # type: ignore[arg-type]
        store=FakeStore(),
        limits=LIMITS,
        senders=frozenset({"someone-else"}),
    )

    [event] = uow.published
    assert isinstance(event, LetterRejected)
    assert [p.field for p in event.problems] == ["sender.id"]
