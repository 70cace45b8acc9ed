"""Archive use cases: take a deposit, hand out download links."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import asyncpg

from archive.adapters.storage import ContentStore
from archive.domain.documents import check_pdf, sha256_hex
from archive.domain.item_number import new_item_number
from lre_shared.bus import PermanentError, Transaction
from lre_shared.messages import (
    DownloadLinkIssued,
    IssueDownloadLink,
    LetterDeposited,
    LetterRejected,
    Message,
    StoredDocument,
    SubmitLetter,
    now_utc,
)


async def submit_letter(
    command: SubmitLetter, tx: Transaction, *, store: ContentStore, max_document_bytes: int
) -> Message | None:
    letter_id = command.correlation_id
    problems = check_pdf("main_document.content", command.main_document.content, max_document_bytes)
    if problems:
        # ETSI EN 319 522 SubmissionRejection: the sender learns every problem by field.
        await tx.publish(
            LetterRejected(correlation_id=letter_id, sender_id=command.sender.id, problems=tuple(problems))
        )
        return None
    if await tx.conn.fetchval("SELECT 1 FROM letters WHERE letter_id = $1", letter_id):
        raise PermanentError(f"letter id {letter_id} is already used by another deposit")

    content = command.main_document.content
    digest = sha256_hex(content)
    document = StoredDocument(
        document_id=uuid4(),
        filename=command.main_document.filename,
        size=len(content),
        sha256=digest,
    )
    key = content_key(letter_id, digest)
    # Stored before the row is committed: a crash leaves an orphan object under a
    # deterministic key, which the retried message overwrites with the same bytes.
    await store.put(key, content, digest)

    deposited_at = now_utc()
    item_number = await _insert_letter(tx.conn, letter_id, deposited_at, command.sender.id)
    await tx.conn.execute(
        "INSERT INTO documents (document_id, letter_id, role, filename, size, sha256, object_key)"
        " VALUES ($1, $2, 'main', $3, $4, $5, $6)",
        document.document_id,
        letter_id,
        document.filename,
        document.size,
        digest,
        key,
    )
    await tx.publish(
        LetterDeposited(
            correlation_id=letter_id,
            item_number=item_number,
            sender=command.sender,
            recipient=command.recipient,
            documents=(document,),
            verification_policy=command.verification_policy,
            deposited_at=deposited_at,
        )
    )
    return None


def content_key(letter_id: UUID, sha256: str) -> str:
    return f"letters/{letter_id}/{sha256}"


async def _insert_letter(
    conn: asyncpg.Connection, letter_id: UUID, deposited_at: object, sender_id: str
) -> str:
    # A collision among 10^11 random numbers is rare but possible: draw again.
    for _ in range(10):
        item_number = new_item_number()
        inserted = await conn.fetchval(
            "INSERT INTO letters (letter_id, item_number, sender_id, deposited_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (item_number) DO NOTHING RETURNING true",
            letter_id,
            item_number,
            sender_id,
            deposited_at,
        )
        if inserted:
            return item_number
    raise RuntimeError("could not draw a free item number")


async def issue_download_link(
    query: IssueDownloadLink, tx: Transaction, *, store: ContentStore, lifetime: timedelta
) -> Message:
    row = await tx.conn.fetchrow(
        "SELECT filename, object_key FROM documents WHERE document_id = $1 AND letter_id = $2",
        query.document_id,
        query.correlation_id,
    )
    if row is None:
        return DownloadLinkIssued(
            correlation_id=query.correlation_id,
            document_id=query.document_id,
            url="",
            expires_at=None,
            reason="no such document for this letter",
        )
    url = await store.download_url(row["object_key"], row["filename"], lifetime)
    await tx.conn.execute(
        "UPDATE documents SET first_link_at = coalesce(first_link_at, now()) WHERE document_id = $1",
        query.document_id,
    )
    return DownloadLinkIssued(
        correlation_id=query.correlation_id,
        document_id=query.document_id,
        url=url,
        expires_at=now_utc() + lifetime,
    )
