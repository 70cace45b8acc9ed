"""Archive handlers, with a fake content store and a fake transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
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
from lre_shared.messages import (
    Document,
    DownloadLinkIssued,
    IssueDownloadLink,
    LetterDeposited,
    LetterRejected,
    Message,
    NoticeChannel,
    SubmitLetter,
)

LIMIT = 1_000_000
LIMITS = Limits(document_bytes=LIMIT, letter_bytes=2 * LIMIT, embedded_bytes=LIMIT, attachments=3)
LIFETIME = timedelta(minutes=10)


@dataclass
class FakeConn:
    letter_exists: bool = False
    item_number_collisions: int = 0
    document_row: dict[str, Any] | None = None
    earlier_letter: dict[str, Any] | None = None
    calls: list[tuple[str, str, tuple[Any, ...]]] = field(default_factory=list)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.calls.append(("fetchval", sql, args))
        if sql.startswith("INSERT INTO letters"):
            if self.letter_exists:
                return None
            if self.item_number_collisions:
                self.item_number_collisions -= 1
                return None
            return True
        raise AssertionError(f"unexpected fetchval: {sql}")

    async def execute(self, sql: str, *args: Any) -> str:
        self.calls.append(("execute", sql, args))
        return "OK"

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        for row in rows:
            self.calls.append(("execute", sql, row))

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        self.calls.append(("fetchrow", sql, args))
        if sql.startswith("SELECT letter_id = $1 AS same_id"):  # why an insert found a clash
            return {"same_id": self.letter_exists, "same_number": not self.letter_exists}
        if "idempotency_key" in sql:
            return self.earlier_letter
        return self.document_row

    def writes(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [(sql, args) for _, sql, args in self.calls if sql.startswith(("INSERT", "UPDATE"))]


@dataclass
class FakeTransaction:
    conn: FakeConn = field(default_factory=FakeConn)
    published: list[Message] = field(default_factory=list)

    async def publish(self, message: Message) -> None:
        self.published.append(message)


@dataclass
class FakeStore:
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    async def put(self, key: str, content: bytes, sha256: str) -> None:
        self.objects[key] = (content, sha256)

    async def get(self, key: str, sha256: str) -> bytes:
        return self.objects[key][0]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)


def a_submission(content: bytes, filename: str = "lettre.pdf") -> SubmitLetter:
    return SubmitLetter(
        correlation_id=uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename=filename, content=content),
    )


async def submit(command: SubmitLetter, tx: FakeTransaction, store: FakeStore) -> Message | None:
    return await submit_letter(command, tx, store=store, limits=LIMITS)  # type: ignore[arg-type]


async def test_a_valid_letter_is_stored_under_a_key_containing_its_sha256() -> None:
    pdf = demo_pdf()
    command = a_submission(pdf)
    tx, store = FakeTransaction(), FakeStore()

    await submit(command, tx, store)

    digest = hashlib.sha256(pdf).hexdigest()
    [(key, (content, sha256))] = store.objects.items()
    assert digest in key
    assert str(command.correlation_id) in key
    assert content == pdf
    assert sha256 == digest


async def test_a_valid_letter_publishes_one_letter_deposited_describing_the_document() -> None:
    pdf = demo_pdf()
    command = a_submission(pdf)
    tx = FakeTransaction()

    result = await submit(command, tx, FakeStore())

    assert result is None
    [event] = tx.published
    assert isinstance(event, LetterDeposited)
    assert event.correlation_id == command.correlation_id
    [document] = event.documents
    assert document.sha256 == hashlib.sha256(pdf).hexdigest()
    assert document.size == len(pdf)
    assert document.filename == "lettre.pdf"


async def test_a_valid_letter_gets_a_valid_item_number() -> None:
    tx = FakeTransaction()

    await submit(a_submission(demo_pdf()), tx, FakeStore())

    [event] = tx.published
    assert isinstance(event, LetterDeposited)
    assert is_valid_item_number(event.item_number)


async def test_the_published_item_number_is_the_one_recorded_for_the_letter() -> None:
    tx = FakeTransaction()

    await submit(a_submission(demo_pdf()), tx, FakeStore())

    inserted = [args for sql, args in tx.conn.writes() if sql.startswith("INSERT INTO letters")]
    [event] = tx.published
    assert isinstance(event, LetterDeposited)
    assert [args[1] for args in inserted] == [event.item_number]


async def test_a_valid_letter_passes_sender_recipient_and_policy_on() -> None:
    command = a_submission(demo_pdf()).model_copy(update={"verification_policy": "cnb"})
    tx = FakeTransaction()

    await submit(command, tx, FakeStore())

    [event] = tx.published
    assert isinstance(event, LetterDeposited)
    assert event.sender == DEMO_SENDER
    assert event.recipient == DEMO_RECIPIENT
    assert event.verification_policy == "cnb"


async def test_the_document_row_records_the_stored_key_and_hash() -> None:
    pdf = demo_pdf()
    tx, store = FakeTransaction(), FakeStore()

    await submit(a_submission(pdf), tx, store)

    [args] = [args for sql, args in tx.conn.writes() if sql.startswith("INSERT INTO documents")]
    [key] = store.objects
    assert args[-2:] == (hashlib.sha256(pdf).hexdigest(), key)


async def test_an_item_number_collision_draws_again() -> None:
    tx = FakeTransaction(conn=FakeConn(item_number_collisions=2))

    await submit(a_submission(demo_pdf()), tx, FakeStore())

    inserted = [args[1] for sql, args in tx.conn.writes() if sql.startswith("INSERT INTO letters")]
    [event] = tx.published
    assert isinstance(event, LetterDeposited)
    assert len(inserted) == 3
    assert event.item_number == inserted[-1]


async def test_a_non_pdf_named_pdf_is_rejected_on_main_document_content() -> None:
    command = a_submission(b"\x89PNG\r\n\x1a\n fake image", filename="lettre.pdf")
    tx = FakeTransaction()

    await submit(command, tx, FakeStore())

    [event] = tx.published
    assert isinstance(event, LetterRejected)
    assert [p.field for p in event.problems] == ["main_document.content"]
    assert event.sender_id == DEMO_SENDER.id
    assert event.correlation_id == command.correlation_id


async def test_a_rejected_letter_stores_nothing_and_keeps_only_the_refusal_for_its_status() -> None:
    tx, store = FakeTransaction(), FakeStore()

    await submit(a_submission(b"not a pdf"), tx, store)

    assert store.objects == {}
    assert [sql.split(" (")[0] for sql, _ in tx.conn.writes()] == ["INSERT INTO rejections"]


async def test_an_oversize_letter_is_rejected_stating_the_limit() -> None:
    tx = FakeTransaction()
    command = a_submission(demo_pdf())

    limits = Limits(document_bytes=100, embedded_bytes=100)
    await submit_letter(command, tx, store=FakeStore(), limits=limits)  # type: ignore[arg-type]

    [event] = tx.published
    assert isinstance(event, LetterRejected)
    assert "100 bytes" in event.problems[0].reason


async def test_a_reused_letter_id_is_a_permanent_error_that_stores_and_publishes_nothing() -> None:
    tx, store = FakeTransaction(conn=FakeConn(letter_exists=True)), FakeStore()

    with pytest.raises(PermanentError, match="already used"):
        await submit(a_submission(demo_pdf()), tx, store)

    assert store.objects == {}
    assert tx.published == []


def a_link_request() -> IssueDownloadLink:
    return IssueDownloadLink(correlation_id=uuid4(), document_id=uuid4())


@dataclass
class FixedClock:
    at: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 9, 30, tzinfo=UTC))

    def now(self) -> datetime:
        return self.at


LINKS = Links(b"k" * 32, "http://archive.internal:8101", LIFETIME, timedelta(minutes=5))


async def link(query: IssueDownloadLink, tx: FakeTransaction, clock: FixedClock | None = None) -> Message:
    return await issue_download_link(query, tx, links=LINKS, clock=clock)  # type: ignore[arg-type]


def a_document_row(key: str = "letters/x/y", **letter: Any) -> dict[str, Any]:
    return {
        "filename": "lettre.pdf",
        "object_key": key,
        "item_number": "123456789012",
        "handed_over_at": None,
        "content_deleted_at": None,
        "accepted_at": datetime(2026, 3, 1, 10, tzinfo=UTC),
        "receipt_signed_at": datetime(2026, 3, 1, 10, 5, tzinfo=UTC),
    } | letter


async def test_a_link_for_an_unknown_document_has_an_empty_url_and_a_reason() -> None:
    query = a_link_request()
    tx = FakeTransaction(conn=FakeConn(document_row=None))

    reply = await link(query, tx)

    assert isinstance(reply, DownloadLinkIssued)
    assert reply.url == ""
    assert reply.reason
    assert reply.expires_at is None
    assert reply.document_id == query.document_id
    assert reply.correlation_id == query.correlation_id
    assert tx.conn.writes() == []


async def test_a_link_is_looked_up_by_document_and_letter() -> None:
    query = a_link_request()
    tx = FakeTransaction()

    await link(query, tx)

    [(method, _, args), *_] = tx.conn.calls
    assert method == "fetchrow"
    assert args == (query.document_id, query.correlation_id)


async def test_a_link_for_a_known_document_is_signed_names_it_and_expires() -> None:
    query, clock = a_link_request(), FixedClock()
    row = a_document_row(f"letters/{query.correlation_id}/{'a' * 64}")
    tx = FakeTransaction(conn=FakeConn(document_row=row))

    reply = await link(query, tx, clock)

    assert isinstance(reply, DownloadLinkIssued)
    path, _, signed = reply.url.removeprefix(LINKS.base_url).partition("?")
    assert path == document_path(query.correlation_id, query.document_id)
    expires = dict(part.split("=", 1) for part in signed.split("&"))
    assert check_link(LINKS.key, path, expires["expires"], expires["token"], clock.at) is None
    assert reply.reason is None
    assert reply.expires_at == clock.at + LIFETIME


async def test_a_link_records_when_one_was_first_issued_and_no_content_handover_yet() -> None:
    query, clock = a_link_request(), FixedClock()
    tx = FakeTransaction(conn=FakeConn(document_row=a_document_row()))

    await link(query, tx, clock)

    # The handover is the download itself, recorded once the document went out whole.
    [(first_link, link_args)] = tx.conn.writes()
    assert "first_link_at" in first_link
    assert link_args == (query.document_id, clock.at)
    assert tx.published == []


@pytest.mark.parametrize(
    ("letter", "reason"),
    [
        ({"accepted_at": None, "receipt_signed_at": None}, "not accepted"),
        ({"receipt_signed_at": None}, "acknowledgement of receipt is not signed"),
    ],
    ids=["not accepted", "receipt not signed"],
)
async def test_no_link_before_the_receipt_is_signed_whoever_asks(letter: dict[str, Any], reason: str) -> None:
    tx = FakeTransaction(conn=FakeConn(document_row=a_document_row(**letter)))

    reply = await link(a_link_request(), tx, FixedClock())

    assert isinstance(reply, DownloadLinkIssued)
    assert reply.url == ""
    assert reply.reason is not None and reason in reply.reason
    assert tx.published == []
    assert tx.conn.writes() == []


async def test_no_link_once_the_content_is_deleted() -> None:
    deleted = datetime(2026, 3, 1, tzinfo=UTC)
    tx = FakeTransaction(conn=FakeConn(document_row=a_document_row(content_deleted_at=deleted)))

    reply = await link(a_link_request(), tx, FixedClock())

    assert isinstance(reply, DownloadLinkIssued)
    assert reply.url == ""
    assert reply.reason is not None and "download window is over" in reply.reason
    assert tx.conn.writes() == []


async def test_attachments_are_stored_and_announced_after_the_main_document() -> None:
    main, extra = demo_pdf("principal"), demo_pdf("annexe")
    command = a_submission(main).model_copy(
        update={"attachments": (Document(filename="annexe.pdf", content=extra),)}
    )
    tx, store = FakeTransaction(), FakeStore()

    await submit(command, tx, store)

    [event] = tx.published
    assert isinstance(event, LetterDeposited)
    assert [(d.role, d.filename) for d in event.documents] == [
        ("main", "lettre.pdf"),
        ("attachment", "annexe.pdf"),
    ]
    assert len(store.objects) == 2
    roles = [args[2] for sql, args in tx.conn.writes() if sql.startswith("INSERT INTO documents")]
    assert roles == ["main", "attachment"]


async def test_alert_channels_always_include_email_in_the_deposited_event() -> None:
    recipient = DEMO_RECIPIENT.model_copy(update={"mobile": "+33612345678"})
    command = a_submission(demo_pdf()).model_copy(
        update={"recipient": recipient, "alert_channels": (NoticeChannel.sms,)}
    )
    tx = FakeTransaction()

    await submit(command, tx, FakeStore())

    [event] = tx.published
    assert isinstance(event, LetterDeposited)
    assert [c.value for c in event.alert_channels] == ["email", "sms"]
    assert event.recipient.mobile == "+33612345678"


async def test_a_deposit_records_its_idempotency_key_fingerprint_and_event() -> None:
    command = a_submission(demo_pdf()).model_copy(update={"idempotency_key": "k-1"})
    tx = FakeTransaction()

    await submit(command, tx, FakeStore())

    [event] = tx.published
    assert isinstance(event, LetterDeposited)
    assert event.idempotency_key == "k-1"
    [args] = [args for sql, args in tx.conn.writes() if sql.startswith("INSERT INTO letters")]
    assert args[0] == command.correlation_id and args[1] == event.item_number
    assert args[4:] == ("k-1", submission_fingerprint(command), event.to_json())


async def test_the_same_key_with_the_same_content_announces_the_first_letter_again() -> None:
    first = a_submission(demo_pdf()).model_copy(update={"idempotency_key": "k-1"})
    first_tx = FakeTransaction()
    await submit(first, first_tx, FakeStore())
    [announced] = first_tx.published
    retry = first.model_copy(update={"correlation_id": uuid4(), "message_id": uuid4()})
    earlier = {
        "letter_id": first.correlation_id,
        "submission_sha256": submission_fingerprint(first),
        "deposited_event": announced.to_json(),
    }
    tx, store = FakeTransaction(conn=FakeConn(earlier_letter=earlier)), FakeStore()

    await submit(retry, tx, store)

    assert store.objects == {}
    assert tx.published == []
    [(sql, args)] = tx.conn.writes()
    assert sql.startswith("INSERT INTO outbox") and "ON CONFLICT (message_id)" in sql
    assert args[0] == announced.message_id
    assert args[1] == first.correlation_id
    assert args[-1] == announced.to_json()


async def test_the_same_key_with_other_content_is_rejected_naming_the_first_letter() -> None:
    first = a_submission(demo_pdf("premier")).model_copy(update={"idempotency_key": "k-1"})
    other = a_submission(demo_pdf("autre")).model_copy(update={"idempotency_key": "k-1"})
    earlier = {
        "letter_id": first.correlation_id,
        "submission_sha256": submission_fingerprint(first),
        "deposited_event": b"{}",
    }
    tx, store = FakeTransaction(conn=FakeConn(earlier_letter=earlier)), FakeStore()

    await submit(other, tx, store)

    [event] = tx.published
    assert isinstance(event, LetterRejected)
    assert [p.field for p in event.problems] == ["idempotency_key"]
    assert str(first.correlation_id) in event.problems[0].reason
    assert event.idempotency_key == "k-1"
    assert store.objects == {}


async def test_an_unknown_sender_is_rejected_when_an_allow_list_is_set() -> None:
    tx = FakeTransaction()

    await submit_letter(
        a_submission(demo_pdf()),
        tx,  # type: ignore[arg-type]
        store=FakeStore(),
        limits=LIMITS,
        senders=frozenset({"someone-else"}),
    )

    [event] = tx.published
    assert isinstance(event, LetterRejected)
    assert [p.field for p in event.problems] == ["sender.id"]
