"""Documents uploaded before their deposit, through short-lived presigned PUT URLs.

A sender asks for an upload (`RequestUpload` on the bus, or POST /uploads with its bearer
token), PUTs the file's bytes to the URL, then deposits referencing the upload id. The URL
signs `If-None-Match: *`: the store takes one PUT and refuses any other, so the bytes cannot
change once written. At the deposit the archive reads the object once, computing its SHA-256
as it streams and checking it is a readable, unencrypted PDF within the limits.

- A sender that declared the letter id and the SHA-256 with the upload PUTs straight to the
  letter's content key (`letters/<letter id>/<sha256>`): the deposit checks the bytes against
  that hash and takes the object where it is.
- Otherwise the object is put under `uploads/<upload id>` and the deposit copies it, inside
  the store, to its content key; the sweeper deletes the upload object once its URL expired,
  or once `UploadPolicy.keep` has passed without a deposit: never inside the deposit's
  transaction, so a deposit retried after a crash reads it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID, uuid4

from archive.adapters.storage import UPLOAD_HEADERS, SpooledUpload, UploadStore
from archive.domain.documents import check_pdf_stream
from archive.domain.submission import Limits, UploadedDocument
from archive.service_layer.ports import GrantedUpload, UnitOfWork, UnitsOfWork, Uploads
from lre_shared.clock import Clock
from lre_shared.contracts import Problem, RequestUpload, UploadGranted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadPolicy:
    url_lifetime: timedelta = timedelta(minutes=15)
    keep: timedelta = timedelta(hours=24)  # a deposit must take the upload within this


def upload_key(upload_id: UUID) -> str:
    return f"uploads/{upload_id}"


@dataclass(frozen=True)
class UploadDesk:
    """Where uploads are granted, wired once for the bus (`RequestUpload`) and the HTTP route
    (POST /uploads) alike."""

    store: UploadStore
    limits: Limits
    senders: frozenset[str] | None
    policy: UploadPolicy
    clock: Clock

    async def grant(
        self,
        uploads: Uploads,
        *,
        sender_id: str,
        filename: str,
        size: int | None,
        letter_id: UUID | None = None,
        sha256: str | None = None,
    ) -> UploadGranted:
        """One upload for `sender_id`: a presigned PUT URL, or the reason there is none. With
        the letter id and the SHA-256 declared, the URL is the document's content key itself."""
        correlation = letter_id or uuid4()
        limits, policy = self.limits, self.policy
        reason = _refusal(sender_id.strip(), filename.strip(), size, limits, self.senders)
        if reason is not None:
            return UploadGranted(correlation_id=correlation, reason=reason, max_bytes=limits.document_bytes)
        upload_id, now = uuid4(), self.clock()
        key = content_key(letter_id, sha256) if letter_id and sha256 else upload_key(upload_id)
        url = await self.store.upload_url(key, policy.url_lifetime, now)
        await uploads.add(
            GrantedUpload(
                upload_id=upload_id,
                sender_id=sender_id.strip(),
                filename=filename.strip(),
                object_key=key,
                granted_at=now,
                url_expires_at=now + policy.url_lifetime,
                usable_until=now + policy.keep,
                declared_sha256=sha256 if letter_id else None,
            )
        )
        return UploadGranted(
            correlation_id=correlation,
            upload_id=upload_id,
            url=url,
            expires_at=now + policy.url_lifetime,
            max_bytes=limits.document_bytes,
            headers=UPLOAD_HEADERS,
        )


def letter_prefix(letter_id: UUID) -> str:
    """Where everything of a letter's content is kept."""
    return f"letters/{letter_id}/"


def content_key(letter_id: UUID, sha256: str) -> str:
    """Where a letter's document is kept: under its letter and its hash."""
    return letter_prefix(letter_id) + sha256


def _refusal(
    sender_id: str, filename: str, size: int | None, limits: Limits, senders: frozenset[str] | None
) -> str | None:
    if not sender_id or (senders is not None and sender_id not in senders):
        return f"unknown sender {sender_id!r}: ask the platform operator to register it"
    if not filename or any(c in filename for c in "/\\") or any(ord(c) < 32 for c in filename):
        return "filename: a file name, not a path: no '/', '\\' or control characters"
    if size is not None and size > limits.document_bytes:
        return f"the document is {size} bytes; the limit is {limits.document_bytes} bytes"
    return None


async def request_upload(query: RequestUpload, uow: UnitOfWork, *, desk: UploadDesk) -> UploadGranted:
    return await desk.grant(
        uow.uploads,
        sender_id=query.sender_id,
        filename=query.filename,
        size=query.size,
        letter_id=query.correlation_id,
        sha256=query.sha256,
    )


@dataclass
class ReadUploads:
    """What a deposit found of the uploads it references; `spooled` holds the bytes read,
    to be copied if the deposit is accepted, and closed in any case."""

    documents: dict[UUID, UploadedDocument] = field(default_factory=dict)
    spooled: dict[UUID, SpooledUpload] = field(default_factory=dict)
    keys: dict[UUID, str] = field(default_factory=dict)


@contextmanager
def closing_spools(found: ReadUploads) -> Iterator[ReadUploads]:
    try:
        yield found
    finally:
        for spooled in found.spooled.values():
            spooled.close()


async def read_uploads(
    uploads: Uploads,
    references: tuple[tuple[str, UUID], ...],
    *,
    letter_id: UUID,
    sender_id: str,
    store: UploadStore,
    limits: Limits,
    clock: Clock,
    found: ReadUploads,
) -> None:
    """Look at each referenced upload (field, upload id): whose it is, whether it is still
    usable, and its bytes: size, SHA-256 while streaming, a PDF, not encrypted."""
    now = clock()
    for field_name, upload_id in references:
        if upload_id in found.documents:
            found.documents[upload_id] = _problem(
                found.documents[upload_id], field_name, "this upload is referenced twice in the letter"
            )
            continue
        row = await uploads.for_deposit(upload_id)
        if row is None or row.sender_id != sender_id:
            found.documents[upload_id] = _unusable(
                f"{upload_id}.pdf", field_name, f"no upload {upload_id} of this sender: request one first"
            )
            continue
        filename = row.filename
        if row.letter_id is not None:
            # Taken already: its hash stands for it, so a retry under the same idempotency key
            # is still the same letter; any other letter is refused.
            taken = (
                ()
                if row.letter_id == letter_id
                else (
                    Problem(
                        field=field_name,
                        reason=f"upload {upload_id} was deposited already, with letter {row.letter_id};"
                        " upload the document again for another letter",
                    ),
                )
            )
            found.documents[upload_id] = UploadedDocument(filename, row.size or 0, row.sha256 or "", taken)
            continue
        if now > row.usable_until:
            found.documents[upload_id] = _unusable(
                filename,
                field_name,
                f"upload {upload_id} expired at {row.usable_until.isoformat()}:"
                " request a new upload and send the document again",
            )
            continue
        spooled = await store.spool(row.object_key, limits.document_bytes)
        if spooled is None:
            found.documents[upload_id] = _unusable(
                filename,
                field_name,
                f"nothing was uploaded for upload {upload_id}: PUT the document to its URL"
                f" before {row.url_expires_at.isoformat()}, then deposit",
            )
            continue
        found.spooled[upload_id] = spooled
        found.keys[upload_id] = row.object_key
        if spooled.file is None:
            problems = [
                Problem(
                    field=field_name,
                    reason=f"the document is {spooled.size} bytes;"
                    f" the limit is {limits.document_bytes} bytes",
                )
            ]
        else:
            problems = await asyncio.to_thread(
                check_pdf_stream, field_name, spooled.file, spooled.size, limits.document_bytes
            )
        declared = row.declared_sha256
        if spooled.file is not None and declared is not None and declared != spooled.sha256:
            problems.append(
                Problem(
                    field=field_name,
                    reason=f"the uploaded bytes have SHA-256 {spooled.sha256}, not {declared} as declared:"
                    " request a new upload with the right hash",
                )
            )
        found.documents[upload_id] = UploadedDocument(filename, spooled.size, spooled.sha256, tuple(problems))


def _problem(document: UploadedDocument, field_name: str, reason: str) -> UploadedDocument:
    problem = Problem(field=field_name, reason=reason)
    return UploadedDocument(document.filename, document.size, document.sha256, (*document.problems, problem))


def _unusable(filename: str, field_name: str, reason: str) -> UploadedDocument:
    """An upload the letter cannot take, with no bytes read: the problem says why."""
    return _problem(UploadedDocument(filename, 0, "", ()), field_name, reason)


async def take_upload(
    uploads: Uploads,
    upload_id: UUID,
    found: ReadUploads,
    *,
    key: str,
    letter_id: UUID,
    store: UploadStore,
    clock: Clock,
    copy: bool = True,
) -> None:
    """Bring an accepted upload to the letter's content key (where it was put already, when its
    letter id and hash were declared; else by a copy inside the store) and mark it taken.
    `copy` is False when another document of the letter has the same bytes, stored already."""
    spooled = found.spooled.get(upload_id)
    if spooled is None:  # taken by this very letter already (a retried deposit)
        return
    in_place = found.keys[upload_id] == key
    if copy and not in_place:
        await store.adopt(found.keys[upload_id], key, spooled.sha256, spooled.etag)
    await uploads.record_taken(
        upload_id,
        letter_id=letter_id,
        at=clock(),
        size=spooled.size,
        sha256=spooled.sha256,
        in_place=in_place,  # the object is the document now: nothing to clean
    )


async def sweep_uploads(units: UnitsOfWork, *, store: UploadStore, clock: Clock, batch: int = 200) -> int:
    """Delete the objects of uploads taken by a deposit, or left unused past their time."""
    swept = 0
    while True:
        async with units() as uow:
            due = await uow.uploads.due_for_cleaning(clock(), batch)
            for upload in due:
                # An upload put at a content key that a document of a letter holds now (the
                # same bytes deposited another way) stays: it is that document.
                if not await uow.documents.holds_object(upload.object_key):
                    await store.delete(upload.object_key)
            await uow.uploads.record_cleaned([upload.upload_id for upload in due], clock())
        swept += len(due)
        if len(due) < batch:
            return swept
