"""Archive use cases: take a deposit, hand out download links."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from archive.adapters.storage import ContentStore, UploadStore
from archive.adapters.zipstream import ZipEntry
from archive.domain.expiry import Clock, SystemClock
from archive.domain.item_number import new_item_number
from archive.domain.links import Links, document_path
from archive.domain.submission import (
    IncomingDocument,
    Limits,
    accepted_parties,
    check_submission,
    incoming_documents,
    submission_fingerprint,
)
from archive.service_layer.uploads import (
    ReadUploads,
    closing_spools,
    content_key,
    read_uploads,
    take_upload,
)
from lre_shared.bus import Fault, PermanentError, Transaction
from lre_shared.jsonscan import top_level_members
from lre_shared.messages import (
    ContentHandedOver,
    DownloadLinkIssued,
    IssueDownloadLink,
    LetterDeposited,
    LetterRejected,
    Message,
    NoticeChannel,
    Problem,
    StoredDocument,
    SubmitLetter,
    now_utc,
)
from lre_shared.outbox import NOTIFY_CHANNEL
from lre_shared.text import text_fault


async def submit_letter(
    command: SubmitLetter,
    tx: Transaction,
    *,
    store: ContentStore,
    limits: Limits,
    senders: frozenset[str] | None = None,
    uploads: UploadStore | None = None,
    clock: Clock | None = None,
) -> Message | None:
    """Take a deposit: documents embedded in the command, or uploaded first and referenced."""
    references = tuple(
        (field_name, upload_id) for field_name, upload_id in _upload_fields(command) if upload_id is not None
    )
    if references and uploads is None:
        raise PermanentError("this archive takes no uploaded documents")
    with closing_spools(ReadUploads()) as found:
        if uploads is not None and references:
            await read_uploads(
                tx.conn,
                references,
                letter_id=command.correlation_id,
                sender_id=command.sender.id.strip(),
                store=uploads,
                limits=limits,
                clock=clock or SystemClock(),
                found=found,
            )
        documents = incoming_documents(command, found.documents)
        await _deposit(
            command,
            documents,
            tx,
            store=store,
            limits=limits,
            senders=senders,
            uploads=uploads,
            found=found,
            clock=clock or SystemClock(),
        )
    return None


async def refuse_malformed_deposit(body: bytes, faults: tuple[Fault, ...], tx: Transaction) -> bool:
    """A deposit that cannot be taken as it is, from a sender it names: it does not parse as a
    `SubmitLetter` (an unknown alert channel, a control character in a name, both or neither
    main document, JSON nested too deep...), or it reuses the message id of another deposit.
    Refused like any other, every problem by field (`LetterRejected`, the signer's ETSI EN
    319 522 SubmissionRejection). Without a letter id and a sender id that can be stored there
    is no one to tell: False, and the bus dead-letters it with the reason."""
    members = top_level_members(body, ("correlation_id", "sender", "idempotency_key"))
    try:
        letter_id = UUID(str(members["correlation_id"]))
        sender_id = str(members["sender"]["id"]).strip()
    except (ValueError, TypeError, KeyError):
        return False
    if not sender_id or text_fault(sender_id, max_chars=100):
        return False
    key = members.get("idempotency_key")
    rejected = LetterRejected(
        correlation_id=letter_id,
        sender_id=sender_id,
        problems=tuple(
            Problem(field=f.field if f.field != "(body)" else "letter", reason=f.reason) for f in faults
        ),
        idempotency_key=key if isinstance(key, str) and key and not text_fault(key, max_chars=200) else None,
    )
    await record_rejection(tx.conn, rejected)
    await tx.publish(rejected)
    return True


def _upload_fields(command: SubmitLetter) -> tuple[tuple[str, UUID | None], ...]:
    return (
        ("main_upload_id", command.main_upload_id),
        *((f"attachment_upload_ids[{i}]", u) for i, u in enumerate(command.attachment_upload_ids)),
    )


async def _deposit(
    command: SubmitLetter,
    documents: tuple[IncomingDocument, ...],
    tx: Transaction,
    *,
    store: ContentStore,
    limits: Limits,
    senders: frozenset[str] | None,
    uploads: UploadStore | None,
    found: ReadUploads,
    clock: Clock,
) -> None:
    letter_id = command.correlation_id
    sender_id = command.sender.id.strip()
    problems = check_submission(command, documents, limits=limits, senders=senders)
    fingerprint = submission_fingerprint(command, documents)
    if command.idempotency_key is not None:
        earlier = await tx.conn.fetchrow(
            "SELECT letter_id, submission_sha256, deposited_event FROM letters"
            " WHERE sender_id = $1 AND idempotency_key = $2",
            sender_id,
            command.idempotency_key,
        )
        if earlier is not None and earlier["submission_sha256"] == fingerprint:
            # The same letter asked for again: no second letter, its announcement again.
            await _announce_again(tx.conn, bytes(earlier["deposited_event"]))
            return
        if earlier is not None:
            problems.append(
                Problem(
                    field="idempotency_key",
                    reason=f"already used for letter {earlier['letter_id']} with other content;"
                    " a new letter needs a new key",
                )
            )
    if problems:
        # ETSI EN 319 522 SubmissionRejection: the sender learns every problem by field.
        rejected = LetterRejected(
            correlation_id=letter_id,
            sender_id=sender_id,
            problems=tuple(problems),
            idempotency_key=command.idempotency_key,
        )
        await record_rejection(tx.conn, rejected)
        await tx.publish(rejected)
        return
    sender, recipient = accepted_parties(command)
    planned = [
        (
            incoming,
            StoredDocument(
                document_id=uuid4(),
                filename=incoming.filename.strip(),
                size=incoming.size,
                sha256=incoming.sha256,
                role=incoming.role,
            ),
            content_key(letter_id, incoming.sha256),
        )
        for incoming in documents
    ]
    deposited_at = now_utc()

    def announced(item_number: str) -> LetterDeposited:
        return LetterDeposited(
            correlation_id=letter_id,
            item_number=item_number,
            sender=sender,
            recipient=recipient,
            documents=tuple(document for _, document, _ in planned),
            verification_policy=command.verification_policy,
            deposited_at=deposited_at,
            alert_channels=tuple(dict.fromkeys((NoticeChannel.email, *command.alert_channels))),
            signature_methods=tuple(dict.fromkeys(command.signature_methods)),
            idempotency_key=command.idempotency_key,
        )

    # The letter's row first, complete: a letter id already taken is found before anything
    # is stored or any upload taken.
    event = await _insert_letter(tx.conn, announced, sender_id, command.idempotency_key, fingerprint)
    for index, (incoming, _, key) in enumerate(planned):
        first = all(key != known for _, _, known in planned[:index])
        # Stored before the row is committed: a crash leaves an orphan object under a
        # deterministic key, which the retried message overwrites with the same bytes.
        if incoming.content is not None and first:
            await store.put(key, incoming.content, incoming.sha256)
        elif uploads is not None and incoming.upload_id is not None:
            await take_upload(
                tx.conn,
                incoming.upload_id,
                found,
                key=key,
                letter_id=letter_id,
                store=uploads,
                clock=clock,
                copy=first,
            )
    await tx.conn.executemany(
        "INSERT INTO documents (document_id, letter_id, role, filename, size, sha256, object_key)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (
                document.document_id,
                letter_id,
                document.role,
                document.filename,
                document.size,
                document.sha256,
                key,
            )
            for _, document, key in planned
        ],
    )
    await tx.publish(event)


async def record_rejection(conn: asyncpg.Connection, rejected: LetterRejected) -> None:
    """Kept for the sender's status query (`GetLetterStatus`)."""
    await conn.execute(
        "INSERT INTO rejections (message_id, letter_id, sender_id, idempotency_key, problems, rejected_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        rejected.message_id,
        rejected.correlation_id,
        rejected.sender_id,
        rejected.idempotency_key,
        json.dumps([p.model_dump() for p in rejected.problems]),
        rejected.occurred_at,
    )


async def _announce_again(conn: asyncpg.Connection, body: bytes) -> None:
    """Publish a letter's `LetterDeposited` again, byte for byte and under its first message id.

    Every consumer's inbox already holds that id, so nothing downstream happens twice; the
    sender, who asked again, hears again. The outbox row may still be there (published, or
    not yet): it is marked pending again rather than inserted twice.
    """
    event = LetterDeposited.model_validate_json(body)
    await conn.execute(
        "INSERT INTO outbox (message_id, correlation_id, exchange, routing_key, body)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO UPDATE"
        " SET published_at = NULL, attempts = 0, next_attempt_at = now(), last_error = NULL",
        event.message_id,
        event.correlation_id,
        event.exchange,
        event.routing_key,
        body,
    )
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")


async def _insert_letter(
    conn: asyncpg.Connection,
    announced: Callable[[str], LetterDeposited],
    sender_id: str,
    idempotency_key: str | None,
    fingerprint: str,
) -> LetterDeposited:
    """Insert the letter's row under a fresh item number, with the event that announces it;
    returns that event."""
    for _ in range(10):
        event = announced(new_item_number())
        inserted = await conn.fetchval(
            "INSERT INTO letters (letter_id, item_number, sender_id, deposited_at, idempotency_key,"
            " submission_sha256, deposited_event) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT DO NOTHING RETURNING true",
            event.correlation_id,
            event.item_number,
            sender_id,
            event.deposited_at,
            idempotency_key,
            fingerprint,
            event.to_json(),
        )
        if inserted:
            return event
        clash = await conn.fetchrow(
            "SELECT letter_id = $1 AS same_id, item_number = $2 AS same_number FROM letters"
            " WHERE letter_id = $1 OR item_number = $2 OR (sender_id = $3 AND idempotency_key = $4)",
            event.correlation_id,
            event.item_number,
            sender_id,
            idempotency_key,
        )
        if clash is not None and clash["same_id"]:
            raise PermanentError(f"letter id {event.correlation_id} is already used by another deposit")
        if clash is not None and not clash["same_number"]:
            # The same idempotency key, committed meanwhile by another delivery: try again,
            # and that letter is found and announced again.
            raise RuntimeError(f"idempotency key {idempotency_key!r} was just taken by another deposit")
        # A collision among 10^11 random numbers is rare but possible: draw again.
    raise RuntimeError("could not draw a free item number")


async def letter_zip_entries(
    conn: asyncpg.Connection, letter_id: UUID, *, store: ContentStore
) -> list[ZipEntry]:
    """The letter's documents as zip entries, main document first, then its latest envelope
    proof if the signer issued one, each streamed from the store and hash-checked as it goes
    (see `archive.adapters.zipstream.stream_zip`)."""
    rows = await conn.fetch(
        "SELECT filename, sha256, object_key FROM ("
        "  SELECT filename, sha256, object_key, (role <> 'main')::int AS rank FROM documents"
        "  WHERE letter_id = $1"
        "  UNION ALL SELECT filename, sha256, object_key, 2 FROM envelopes WHERE letter_id = $1"
        ") entries ORDER BY rank, filename",
        letter_id,
    )
    return [
        ZipEntry(row["filename"], partial(store.stream, row["object_key"], row["sha256"])) for row in rows
    ]


async def record_handover(
    tx: Transaction, letter_id: UUID, item_number: str, document_id: UUID, now: datetime
) -> None:
    """ETSI EN 319 522 ContentHandover: the letter's first download, recorded once (callers
    hold the letter row locked, so two first downloads at once give one event)."""
    await tx.conn.execute("UPDATE letters SET handed_over_at = $2 WHERE letter_id = $1", letter_id, now)
    await tx.publish(
        ContentHandedOver(
            correlation_id=letter_id, item_number=item_number, document_id=document_id, handed_over_at=now
        )
    )


def content_unavailable(
    letter: asyncpg.Record | dict[str, Any] | None, now: datetime | None = None
) -> str | None:
    """Why the letter's content cannot be handed over now; None when it can.

    The pickup site shows documents only once the acknowledgement of receipt is signed; the
    archive holds to the same rule itself (CPCE R.53-3: the content goes to the recipient
    after acceptance, the signed receipt proving it), whatever asks for a link. Past the
    content's expiry (the rules profile's, `archive.domain.expiry`) nothing is handed over,
    even before the sweeper has deleted it.
    """
    if letter is None:
        return "no such letter"
    expires_at = letter.get("content_expires_at")
    if letter["content_deleted_at"] is not None or (
        now is not None and expires_at is not None and now >= expires_at
    ):
        return "the download window is over: the content was deleted"
    if letter["accepted_at"] is None:
        return "the letter is not accepted: its content is not available"
    if letter["receipt_signed_at"] is None:
        return "the acknowledgement of receipt is not signed yet"
    return None


async def available_document(
    conn: asyncpg.Connection, letter_id: UUID, document_id: UUID, now: datetime | None = None
) -> asyncpg.Record | str:
    """The document's row (size, hash, object key) when its content may be handed over now,
    else why not: what a link is issued on, and checked again when the link is used."""
    row = await conn.fetchrow(
        "SELECT d.size, d.sha256, d.object_key,"
        " l.content_deleted_at, l.content_expires_at, l.accepted_at, l.receipt_signed_at"
        " FROM documents d JOIN letters l USING (letter_id)"
        " WHERE d.document_id = $1 AND d.letter_id = $2",
        document_id,
        letter_id,
    )
    if row is None:
        return "no such document for this letter"
    return content_unavailable(row, now) or row


async def issue_download_link(
    query: IssueDownloadLink, tx: Transaction, *, links: Links, clock: Clock | None = None
) -> Message:
    """A short-lived link to one document, served by this service (which checks its hash as
    it streams); the download, once complete, is recorded by `record_download`."""
    now = (clock or SystemClock()).now()
    available = await available_document(tx.conn, query.correlation_id, query.document_id, now)
    if isinstance(available, str):
        return DownloadLinkIssued(
            correlation_id=query.correlation_id,
            document_id=query.document_id,
            url="",
            expires_at=None,
            reason=available,
        )
    await tx.conn.execute(
        "UPDATE documents SET first_link_at = coalesce(first_link_at, $2) WHERE document_id = $1",
        query.document_id,
        now,
    )
    expires_at = now + links.document_lifetime
    return DownloadLinkIssued(
        correlation_id=query.correlation_id,
        document_id=query.document_id,
        url=links.url(document_path(query.correlation_id, query.document_id), expires_at),
        expires_at=expires_at,
    )


@dataclass(frozen=True)
class OpenDocument:
    size: int
    chunks: AsyncIterator[bytes]


async def open_document(
    conn: asyncpg.Connection,
    letter_id: UUID,
    document_id: UUID,
    *,
    store: ContentStore,
    now: datetime | None = None,
) -> OpenDocument | str:
    """One document's bytes as the store streams them, hash-checked, or why there are none
    (the content may have gone since the link was issued)."""
    row = await available_document(conn, letter_id, document_id, now)
    if isinstance(row, str):
        return row
    return OpenDocument(row["size"], store.stream(row["object_key"], row["sha256"]))


async def record_download(
    pool: asyncpg.Pool, letter_id: UUID, *, clock: Clock, document_id: UUID | None = None
) -> None:
    """A document, or the zip (`document_id` None: it counts as the main document), went out
    whole, its bytes hash-checked: the letter's first download, if it is (ETSI EN 319 522
    ContentHandover, recorded once)."""
    async with pool.acquire() as conn, conn.transaction():
        letter = await conn.fetchrow(
            "SELECT l.item_number, l.handed_over_at, d.document_id FROM letters l"
            " JOIN documents d USING (letter_id) WHERE l.letter_id = $1"
            " AND (d.document_id = $2 OR ($2::uuid IS NULL AND d.role = 'main'))"
            " FOR UPDATE OF l",
            letter_id,
            document_id,
        )
        if letter is not None and letter["handed_over_at"] is None:
            await record_handover(
                Transaction(conn), letter_id, letter["item_number"], letter["document_id"], clock.now()
            )
