"""Archive use cases: take a deposit, hand out download links."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID, uuid4

from archive.adapters.storage import ContentStore, UploadStore
from archive.adapters.zipstream import ZipEntry
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
from archive.service_layer.consents import deposit_consent
from archive.service_layer.ports import ContentState, Documents, StoredObject, UnitOfWork, UnitsOfWork
from archive.service_layer.sender_events import publish_and_tell, tell_sender
from archive.service_layer.uploads import (
    ReadUploads,
    closing_spools,
    content_key,
    read_uploads,
    take_upload,
)
from lre_shared.bus import Fault, PermanentError
from lre_shared.clock import Clock, now_utc
from lre_shared.contracts import (
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
)
from lre_shared.jsonscan import top_level_members
from lre_shared.text import text_fault


async def submit_letter(
    command: SubmitLetter,
    uow: UnitOfWork,
    *,
    store: ContentStore,
    limits: Limits,
    senders: frozenset[str] | None = None,
    uploads: UploadStore | None = None,
    clock: Clock = now_utc,
    consent_required: bool = True,
) -> Message | None:
    """Take a deposit: documents embedded in the command, or uploaded first and referenced.
    With `consent_required` (the rules profile's; CPCE L.100), a letter to a consumer needs
    their current consent in the registry (`service_layer.consents`)."""
    references = tuple(
        (field_name, upload_id) for field_name, upload_id in _upload_fields(command) if upload_id is not None
    )
    if references and uploads is None:
        raise PermanentError("this archive takes no uploaded documents")
    with closing_spools(ReadUploads()) as found:
        if uploads is not None and references:
            await read_uploads(
                uow.uploads,
                references,
                letter_id=command.correlation_id,
                sender_id=command.sender.id.strip(),
                store=uploads,
                limits=limits,
                clock=clock,
                found=found,
            )
        documents = incoming_documents(command, found.documents)
        await _deposit(
            command,
            documents,
            uow,
            store=store,
            limits=limits,
            senders=senders,
            uploads=uploads,
            found=found,
            clock=clock,
            consent_required=consent_required,
        )
    return None


async def refuse_malformed_deposit(body: bytes, faults: tuple[Fault, ...], uow: UnitOfWork) -> bool:
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
    await reject(uow, malformed_rejection(letter_id, sender_id, faults, members))
    return True


def malformed_rejection(
    letter_id: UUID,
    addressee: str,
    faults: tuple[Fault, ...],
    members: dict[str, Any],
    first: tuple[Problem, ...] = (),
) -> LetterRejected:
    """The refusal of a deposit that does not parse, to `addressee`: `first`, then every fault by
    field (the body's as the letter's), with the idempotency key it named if that one can be
    kept (the sender's status query finds the refusal under it)."""
    key = members.get("idempotency_key")
    return LetterRejected(
        correlation_id=letter_id,
        sender_id=addressee,
        problems=(
            *first,
            *(Problem(field=f.field if f.field != "(body)" else "letter", reason=f.reason) for f in faults),
        ),
        idempotency_key=key if isinstance(key, str) and key and not text_fault(key, max_chars=200) else None,
    )


async def reject(uow: UnitOfWork, rejected: LetterRejected) -> None:
    """Tell the sender, and keep the refusal for its status query (`GetLetterStatus`)."""
    await uow.rejections.add(rejected)
    await publish_and_tell(uow, rejected)


def _upload_fields(command: SubmitLetter) -> tuple[tuple[str, UUID | None], ...]:
    return (
        ("main_upload_id", command.main_upload_id),
        *((f"attachment_upload_ids[{i}]", u) for i, u in enumerate(command.attachment_upload_ids)),
    )


async def _deposit(
    command: SubmitLetter,
    documents: tuple[IncomingDocument, ...],
    uow: UnitOfWork,
    *,
    store: ContentStore,
    limits: Limits,
    senders: frozenset[str] | None,
    uploads: UploadStore | None,
    found: ReadUploads,
    clock: Clock,
    consent_required: bool = True,
) -> None:
    letter_id = command.correlation_id
    sender_id = command.sender.id.strip()
    problems = check_submission(command, documents, limits=limits, senders=senders)
    # CPCE L.100, judged once the parties are valid: no consent to look up for a bad address.
    parties_valid = not {p.field for p in problems} & {"sender.id", "recipient.email", "recipient.kind"}
    if (
        consent_required
        and parties_valid
        and (refusal := await deposit_consent(uow.consents, sender_id, command.recipient)) is not None
    ):
        problems.append(refusal)
    fingerprint = submission_fingerprint(command, documents)
    if command.idempotency_key is not None:
        earlier = await uow.letters.deposited_under(sender_id, command.idempotency_key)
        if earlier is not None and earlier.fingerprint == fingerprint:
            # The same letter asked for again: no second letter, its announcement again,
            # byte for byte and under its first message id; the sender, who asked again,
            # hears again.
            again = LetterDeposited.model_validate_json(earlier.announcement)
            await uow.publish_again(again, earlier.announcement)
            await tell_sender(again, uow)  # on its stream too: deposited, numbered next
            return
        if earlier is not None:
            problems.append(
                Problem(
                    field="idempotency_key",
                    reason=f"already used for letter {earlier.letter_id} with other content;"
                    " a new letter needs a new key",
                )
            )
    if problems:
        # ETSI EN 319 522 SubmissionRejection: the sender learns every problem by field.
        await reject(
            uow,
            LetterRejected(
                correlation_id=letter_id,
                sender_id=sender_id,
                problems=tuple(problems),
                idempotency_key=command.idempotency_key,
            ),
        )
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
    event = await _add_letter(uow, announced, sender_id, command.idempotency_key, fingerprint)
    for index, (incoming, _, key) in enumerate(planned):
        first = all(key != known for _, _, known in planned[:index])
        # Stored before the row is committed: a crash leaves an orphan object under a
        # deterministic key, which the retried message overwrites with the same bytes.
        if incoming.content is not None and first:
            await store.put(key, incoming.content, incoming.sha256)
        elif uploads is not None and incoming.upload_id is not None:
            await take_upload(
                uow.uploads,
                incoming.upload_id,
                found,
                key=key,
                letter_id=letter_id,
                store=uploads,
                clock=clock,
                copy=first,
            )
    await uow.documents.add(letter_id, [(document, key) for _, document, key in planned])
    await publish_and_tell(uow, event)


async def _add_letter(
    uow: UnitOfWork,
    announced: Callable[[str], LetterDeposited],
    sender_id: str,
    idempotency_key: str | None,
    fingerprint: str,
) -> LetterDeposited:
    """Add the letter under a fresh item number, with the event that announces it; returns
    that event."""
    for _ in range(10):
        event = announced(new_item_number())
        if await uow.letters.add(
            event, sender_id=sender_id, idempotency_key=idempotency_key, fingerprint=fingerprint
        ):
            return event
        clash = await uow.letters.clash(event.correlation_id, event.item_number, sender_id, idempotency_key)
        if clash is not None and clash.same_id:
            raise PermanentError(f"letter id {event.correlation_id} is already used by another deposit")
        if clash is not None and not clash.same_number:
            # The same idempotency key, committed meanwhile by another delivery: try again,
            # and that letter is found and announced again.
            raise RuntimeError(f"idempotency key {idempotency_key!r} was just taken by another deposit")
        # A collision among 10^11 random numbers is rare but possible: draw again.
    raise RuntimeError("could not draw a free item number")


async def letter_zip_entries(documents: Documents, letter_id: UUID, *, store: ContentStore) -> list[ZipEntry]:
    """The letter's documents as zip entries, main document first, then its latest envelope
    proof if the signer issued one, each streamed from the store and hash-checked as it goes
    (see `archive.adapters.zipstream.stream_zip`)."""
    return [
        ZipEntry(entry.filename, partial(store.stream, entry.object_key, entry.sha256))
        for entry in await documents.zip_entries(letter_id)
    ]


async def record_handover(
    uow: UnitOfWork, letter_id: UUID, item_number: str, document_id: UUID, now: datetime
) -> None:
    """ETSI EN 319 522 ContentHandover: the letter's first download, recorded once (callers
    hold the letter row locked, so two first downloads at once give one event)."""
    await uow.letters.record_handover(letter_id, now)
    await publish_and_tell(
        uow,
        ContentHandedOver(
            correlation_id=letter_id, item_number=item_number, document_id=document_id, handed_over_at=now
        ),
    )


def content_unavailable(letter: ContentState | None, now: datetime | None = None) -> str | None:
    """Why the letter's content cannot be handed over now; None when it can.

    The pickup site shows documents only once the acknowledgement of receipt is signed; the
    archive holds to the same rule itself (CPCE R.53-3: the content goes to the recipient
    after acceptance, the signed receipt proving it), whatever asks for a link. Past the
    content's expiry (the rules profile's, `archive.domain.expiry`) nothing is handed over,
    even before the sweeper has deleted it.
    """
    if letter is None:
        return "no such letter"
    expires_at = letter.content_expires_at
    if letter.content_deleted_at is not None or (
        now is not None and expires_at is not None and now >= expires_at
    ):
        return "the download window is over: the content was deleted"
    if letter.accepted_at is None:
        return "the letter is not accepted: its content is not available"
    if letter.receipt_signed_at is None:
        return "the acknowledgement of receipt is not signed yet"
    return None


async def available_document(
    documents: Documents, letter_id: UUID, document_id: UUID, now: datetime | None = None
) -> StoredObject | str:
    """The document (size, hash, object key) when its content may be handed over now, else
    why not: what a link is issued on, and checked again when the link is used."""
    found = await documents.available(letter_id, document_id)
    if found is None:
        return "no such document for this letter"
    return content_unavailable(found.letter, now) or found.document


async def issue_download_link(
    query: IssueDownloadLink, uow: UnitOfWork, *, links: Links, clock: Clock = now_utc
) -> Message:
    """A short-lived link to one document, served by this service (which checks its hash as
    it streams); the download, once complete, is recorded by `record_download`."""
    now = clock()
    available = await available_document(uow.documents, query.correlation_id, query.document_id, now)
    if isinstance(available, str):
        return DownloadLinkIssued(
            correlation_id=query.correlation_id,
            document_id=query.document_id,
            url="",
            expires_at=None,
            reason=available,
        )
    await uow.documents.record_link_issued(query.document_id, now)
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
    documents: Documents,
    letter_id: UUID,
    document_id: UUID,
    *,
    store: ContentStore,
    now: datetime | None = None,
) -> OpenDocument | str:
    """One document's bytes as the store streams them, hash-checked, or why there are none
    (the content may have gone since the link was issued)."""
    document = await available_document(documents, letter_id, document_id, now)
    if isinstance(document, str):
        return document
    return OpenDocument(document.size, store.stream(document.object_key, document.sha256))


async def record_download(
    units: UnitsOfWork, letter_id: UUID, *, clock: Clock, document_id: UUID | None = None
) -> None:
    """A document, or the zip (`document_id` None: it counts as the main document), went out
    whole, its bytes hash-checked: the letter's first download, if it is (ETSI EN 319 522
    ContentHandover, recorded once)."""
    async with units() as uow:
        handover = await uow.letters.handover(letter_id, document_id)
        if handover is not None and handover.handed_over_at is None:
            await record_handover(uow, letter_id, handover.item_number, handover.document_id, clock())
