"""Pure parts of uploads and zip links: the deposit's view of uploaded documents, and the
zip link's token."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from archive.domain.links import Links, check_link, document_path, zip_path
from archive.domain.submission import (
    Limits,
    UploadedDocument,
    check_submission,
    incoming_documents,
    submission_fingerprint,
)
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import Document, Problem, SubmitLetter

LIMITS = Limits(document_bytes=1000, letter_bytes=1500, embedded_bytes=100, attachments=2)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def by_reference(main: uuid.UUID, *attachments: uuid.UUID) -> SubmitLetter:
    return SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_upload_id=main,
        attachment_upload_ids=attachments,
    )


def test_a_letter_names_its_main_document_exactly_once() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SubmitLetter(correlation_id=uuid.uuid4(), sender=DEMO_SENDER, recipient=DEMO_RECIPIENT)
    with pytest.raises(ValueError, match="exactly one"):
        SubmitLetter(
            correlation_id=uuid.uuid4(),
            sender=DEMO_SENDER,
            recipient=DEMO_RECIPIENT,
            main_document=Document(filename="l.pdf", content=b"%PDF-"),
            main_upload_id=uuid.uuid4(),
        )


def test_an_embedded_letter_of_the_earlier_form_still_parses() -> None:
    body = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="l.pdf", content=b"%PDF-"),
    ).model_dump(mode="json", exclude={"main_upload_id", "attachment_upload_ids"})

    assert SubmitLetter.model_validate(body).main_document is not None


def test_uploaded_documents_come_after_the_embedded_ones_with_their_problems_by_field() -> None:
    main, annex = uuid.uuid4(), uuid.uuid4()
    command = by_reference(main, annex).model_copy(
        update={"attachments": (Document(filename="petit.pdf", content=demo_pdf("petit")[:90]),)}
    )
    bad = Problem(field="attachment_upload_ids[0]", reason="the document is not a PDF")
    uploads = {
        main: UploadedDocument("contrat.pdf", 800, "a" * 64),
        annex: UploadedDocument("annexe.pdf", 10, "b" * 64, (bad,)),
    }

    documents = incoming_documents(command, uploads)
    problems = check_submission(command, documents, limits=LIMITS, senders=None)

    assert [(d.field, d.filename) for d in documents] == [
        ("main_upload_id", "contrat.pdf"),
        ("attachments[0]", "petit.pdf"),
        ("attachment_upload_ids[0]", "annexe.pdf"),
    ]
    assert bad in problems
    assert all(p.field != "main_upload_id" for p in problems)  # over the embedded limit, yet uploaded


def test_uploaded_and_embedded_count_together_against_the_letter_and_attachment_limits() -> None:
    ids = [uuid.uuid4() for _ in range(4)]
    command = by_reference(ids[0], *ids[1:])
    uploads = {u: UploadedDocument(f"{i}.pdf", 600, f"{i}" * 64) for i, u in enumerate(ids)}

    problems = check_submission(command, incoming_documents(command, uploads), limits=LIMITS, senders=None)

    assert {p.field for p in problems} == {"attachments", "documents"}


def test_a_document_is_the_same_for_the_idempotency_key_embedded_or_uploaded() -> None:
    pdf = demo_pdf("Le meme")
    embedded = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="l.pdf", content=pdf),
    )
    upload_id = uuid.uuid4()
    uploaded = by_reference(upload_id)
    found = {upload_id: UploadedDocument("l.pdf", len(pdf), hashlib.sha256(pdf).hexdigest())}

    assert submission_fingerprint(embedded) == submission_fingerprint(
        uploaded, incoming_documents(uploaded, found)
    )


def test_a_download_link_holds_until_it_expires_and_for_what_it_names_only() -> None:
    key, letter, document = b"k" * 32, uuid.uuid4(), uuid.uuid4()
    links = Links(key, "https://archive.internal/", timedelta(minutes=5), timedelta(minutes=5))
    url = links.url(document_path(letter, document), NOW + timedelta(minutes=5))
    path, _, query_string = url.removeprefix("https://archive.internal").partition("?")
    query = dict(part.split("=", 1) for part in query_string.split("&"))

    def check(path: str, expires: str = query["expires"], at: datetime = NOW, key: bytes = key) -> str | None:
        return check_link(key, path, expires, query["token"], at)

    assert path == f"/letters/{letter}/documents/{document}"
    assert check(path) is None
    assert check(path, at=NOW + timedelta(minutes=5)) == "the link has expired: ask for a new one"
    assert check(document_path(letter, uuid.uuid4())) == "invalid link"
    assert check(document_path(uuid.uuid4(), document)) == "invalid link"
    assert check(zip_path(letter)) == "invalid link"  # a document's link opens no zip
    assert check(path, key=b"other" * 8) == "invalid link"
    assert check(path, expires=str(int(query["expires"]) + 60)) == "invalid link"
    assert check(path, expires="soon") == "malformed link"
