"""Verification cases and the identity documents that feed them (DESIGN §2 step 5).

A recipient who chooses to sign the acknowledgement of receipt with a one-time code opens
a case (through the pickup site); documents then arrive by web upload, by email (a
fax-to-email gateway mails the same address) or by MMS. Whatever arrives by email or MMS
is matched to its case by the case reference in the subject or text; what matches no
open case goes to the triage list for a supervisor.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from lre_shared.clock import Clock
from lre_shared.contracts import (
    AddIdentityDocument,
    CaseState,
    DocumentChannel,
    IdentityDocumentAdded,
    OpenVerificationCase,
    SendCaseConfirmation,
    VerificationCaseOpened,
)
from lre_shared.text import text_fault
from verification.domain import documents
from verification.domain.cases import CLOSED, Case, Channels, Letter, NewDocument, TriageEntry
from verification.domain.policy import required_documents
from verification.domain.reference import SeveralReferences, named_reference, new_reference
from verification.service_layer.ports import DocumentVault, UnitOfWork, UnitsOfWork
from verification.settings import VerificationSettings

Channel = Literal["upload", "email", "mms", "fax"]


# ------------------------------------------------------------------------ open a case


def _not_opened(query: OpenVerificationCase, reason: str) -> VerificationCaseOpened:
    return VerificationCaseOpened(correlation_id=query.correlation_id, case_id=None, reason=reason)


def _reply(query: OpenVerificationCase, settings: VerificationSettings, case: Case) -> VerificationCaseOpened:
    return VerificationCaseOpened(
        correlation_id=query.correlation_id,
        case_id=case.case_id,
        reference=case.reference,
        state=CaseState(case.state),
        inbound_email=settings.inbound_email,
        inbound_mms=settings.inbound_mms,
        inbound_fax=settings.inbound_fax,
        max_document_bytes=settings.max_document_bytes,
        required_documents=required_documents(case.policy),
    )


def document_address(channel: DocumentChannel, settings: VerificationSettings) -> str | None:
    """Where the recipient sends documents by `channel`; None when the desk takes none that way
    (no MMS or fax number configured), or for the pickup site's upload."""
    return {
        DocumentChannel.upload: None,
        DocumentChannel.email: settings.inbound_email,
        DocumentChannel.mms: settings.inbound_mms,
        DocumentChannel.fax: settings.inbound_fax,
    }[channel]


async def _confirm(uow: UnitOfWork, settings: VerificationSettings, case: Case) -> None:
    """Confirm the open case to the recipient, where the code will go (the 2014 pickup guide's
    confirmation email): its reference, how to send the documents and which ones."""
    channel = DocumentChannel(case.document_channel)
    await uow.publish(
        SendCaseConfirmation(
            correlation_id=case.letter_id,
            channel=case.code_channel,
            address=case.code_address,
            reference=case.reference,
            document_channel=channel,
            document_address=document_address(channel, settings),
            required_documents=required_documents(case.policy),
            language=case.language,
        )
    )


def _address_problem(query: OpenVerificationCase, letter: Letter) -> str | None:
    # Codes go only where the sender said the recipient can be reached: a code sent elsewhere
    # would let anyone who passed the identity step sign in the recipient's name.
    if query.code_channel == "email":
        declared = (letter.recipient_email or "").casefold()
        if query.code_address.strip().casefold() != declared:
            return "the code can only be sent to the recipient's declared email address"
    elif query.code_address.strip() != (letter.recipient_mobile or ""):
        return "the code can only be sent by SMS to the recipient's declared mobile number"
    return None


async def _letter_to_open(query: OpenVerificationCase, uow: UnitOfWork) -> Letter | str:
    """The letter whose case `query` opens, locked; or why its case cannot be opened."""
    letter = await uow.letters.locked(query.correlation_id)
    if letter is None or letter.item_number != query.item_number:
        return "unknown letter"
    # The pickup site asks only once the recipient accepted; the desk learns of the acceptance
    # by an event that may still be on its way, so it refuses only what it knows to be refused.
    if letter.status == "refused":
        return "the letter was refused: there is no receipt to sign"
    if letter.recipient_forgotten_at is not None:
        # Its recipient is forgotten only once the letter is past its windows (CPCE R.53-3).
        return "the letter is past its acceptance and download windows: there is no receipt to sign"
    return _address_problem(query, letter) or letter


async def open_case(
    query: OpenVerificationCase, uow: UnitOfWork, *, settings: VerificationSettings, clock: Clock
) -> VerificationCaseOpened:
    """Open the letter's case, or give back the one already open (its channels updated)."""
    now = clock()
    letter = await _letter_to_open(query, uow)
    if isinstance(letter, str):
        return _not_opened(query, letter)
    if query.document_channel is not DocumentChannel.upload and not document_address(
        query.document_channel, settings
    ):
        return _not_opened(query, f"this desk takes no documents by {query.document_channel}")
    channels = Channels(
        query.document_channel.value, query.code_channel, query.code_address.strip(), query.language
    )
    case = await uow.cases.current(letter.letter_id)
    if case is not None and case.state == CaseState.approved.value:
        return _reply(query, settings, case)  # verified already: new codes come by RequestCode
    if case is not None:
        before = case.channels
        case = await uow.cases.choose_channels(case.case_id, channels)
        await uow.case_events.record(
            case.case_id, "recipient", "channels_chosen", now, document_channel=channels.document_channel
        )
        if before != channels:
            await _confirm(uow, settings, case)
        return _reply(query, settings, case)
    case = await uow.cases.open(uuid.uuid4(), letter, channels, now, new_reference)
    await uow.case_events.record(
        case.case_id,
        "recipient",
        "opened",
        now,
        policy=letter.policy,
        document_channel=channels.document_channel,
    )
    await _confirm(uow, settings, case)
    return _reply(query, settings, case)


# -------------------------------------------------------------------------- documents


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes


@dataclass(frozen=True)
class StoredDocument:
    document_id: UUID
    filename: str
    content_type: str


async def store(
    uow: UnitOfWork,
    vault: DocumentVault,
    attachment: Attachment,
    *,
    channel: Channel,
    max_bytes: int,
    now: datetime,
    case_id: UUID | None = None,
    triage_id: UUID | None = None,
    judged: str | None = None,
) -> StoredDocument | documents.Refusal:
    """Keep a document; `judged` is its content type when `documents.check` already ran."""
    kind = judged or documents.check(attachment.filename, attachment.content, max_bytes)
    if isinstance(kind, documents.Refusal):
        return kind
    document_id = uuid.uuid4()
    key = f"documents/{document_id}"
    # Stored before the row: a transaction that rolls back leaves an object nobody points at
    # (encrypted, and unreadable without a row), never a row without its object.
    await vault.put(key, attachment.content)
    filename = documents.safe_filename(attachment.filename, kind)
    await uow.documents.add(
        NewDocument(
            document_id=document_id,
            case_id=case_id,
            triage_id=triage_id,
            channel=channel,
            filename=filename,
            content_type=kind,
            size=len(attachment.content),
            sha256=hashlib.sha256(attachment.content).hexdigest(),
            object_key=key,
            received_at=now,
        )
    )
    return StoredDocument(document_id, filename, kind)


async def add_identity_document(
    command: AddIdentityDocument,
    uow: UnitOfWork,
    *,
    vault: DocumentVault,
    settings: VerificationSettings,
    clock: Clock,
) -> IdentityDocumentAdded:
    """A document uploaded on the pickup site."""
    now = clock()

    def refused(reason: str, state: str | None = None) -> IdentityDocumentAdded:
        return IdentityDocumentAdded(
            correlation_id=command.correlation_id,
            accepted=False,
            reason=reason,
            state=CaseState(state) if state else None,
        )

    case = await uow.cases.of_letter(command.case_id, command.correlation_id)
    if case is None:
        return refused("unknown case")
    if case.state in CLOSED:
        return refused("the case is already decided", case.state)
    stored = await store(
        uow,
        vault,
        Attachment(command.filename, command.content),
        channel="upload",
        max_bytes=settings.max_document_bytes,
        now=now,
        case_id=case.case_id,
    )
    if isinstance(stored, documents.Refusal):
        await uow.case_events.record(
            case.case_id, "recipient", "document_refused", now, channel="upload", reason=stored.reason
        )
        return refused(stored.reason, case.state)
    state = await uow.cases.documents_arrived(case.case_id, now)
    await uow.case_events.record(
        case.case_id, "recipient", "document_added", now, channel="upload", document_id=stored.document_id
    )
    return IdentityDocumentAdded(
        correlation_id=command.correlation_id,
        accepted=True,
        document_id=stored.document_id,
        state=CaseState(state),
    )


# ------------------------------------------------------------- email, fax and MMS


@dataclass(frozen=True)
class InboundMessage:
    channel: Literal["email", "mms", "fax"]
    sender: str
    subject: str
    text: str
    attachments: Sequence[Attachment]


@dataclass
class InboundOutcome:
    case_id: UUID | None = None
    reference: str | None = None
    triage_id: UUID | None = None
    accepted: list[UUID] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


class MessageRefused(Exception):
    """A message refused whole, before anything of it was kept; `reason` says why, in words
    the sender can act on and that name no file as sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Malformed(MessageRefused):
    """A message that cannot be read as it was sent: sending it again will not help."""


class SeveralCases(MessageRefused):
    """A message naming more than one case reference."""


def _unkeepable(value: str) -> str | None:
    """Why PostgreSQL could not keep `value` as text (a NUL, or a lone surrogate, which
    UTF-8 cannot encode); None when it can."""
    if (position := value.find("\x00")) >= 0:
        return f"contains a NUL character at position {position + 1}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate at position {exc.start + 1}"
    return None


def _shown(filename: str) -> str:
    # Refusals name the file, within bounds: they go into answers and the audit trail.
    return filename if len(filename) <= 80 else filename[:77] + "..."


def _judge(attachments: Sequence[Attachment], max_bytes: int) -> list[str | documents.Refusal]:
    judged: list[str | documents.Refusal] = []
    for attachment in attachments:
        kind = documents.check(_shown(attachment.filename), attachment.content, max_bytes)
        if isinstance(kind, documents.Refusal):
            # A parser's message may quote the file's own bytes: only printable text goes on.
            kind = documents.Refusal("".join(c if c.isprintable() else "?" for c in kind.reason[:300]))
        judged.append(kind)
    return judged


def _named_reference(message: InboundMessage) -> str | None:
    """The case reference the message names, once it is known to be readable; raises
    MessageRefused otherwise."""
    for place, value in (("sender", message.sender), ("subject", message.subject), ("text", message.text)):
        if fault := _unkeepable(value):
            raise Malformed(f"its {place} {fault}")
    for position, attachment in enumerate(message.attachments, 1):
        if fault := text_fault(attachment.filename):
            raise Malformed(f"the file name of attachment {position} {fault}")
    try:
        return named_reference(message.subject, message.text)
    except SeveralReferences:
        # Never which of them is open: a message naming many would test them all at once.
        raise SeveralCases(
            "one reference per message: it names several case references;"
            " send each case's documents in a message of its own"
        ) from None


async def receive(
    transactions: UnitsOfWork, vault: DocumentVault, message: InboundMessage, *, max_bytes: int, now: datetime
) -> InboundOutcome:
    """File what came by email, fax or MMS under the case its reference names, or in triage.

    What is kept is decided before anything is: a message refused whole (MessageRefused, or
    every attachment refused) leaves no document, no object in the store and no triage
    entry; only the case's audit trail records documents refused for a case it names.
    """
    reference = _named_reference(message)
    # Each document is parsed (up to ten of several megabytes): in a worker thread, so that the
    # desk answers meanwhile.
    checks = await asyncio.to_thread(_judge, message.attachments, max_bytes)
    taken = [(a, kind) for a, kind in zip(message.attachments, checks, strict=True) if isinstance(kind, str)]
    outcome = InboundOutcome(refused=[kind.reason for kind in checks if isinstance(kind, documents.Refusal)])
    async with transactions() as uow:
        case = await uow.cases.open_with_reference(reference) if reference is not None else None
        if case is not None:
            outcome.case_id, outcome.reference = case.case_id, case.reference
        elif taken or not outcome.refused:
            outcome.triage_id = uuid.uuid4()
            await uow.triage.add(
                TriageEntry(
                    triage_id=outcome.triage_id,
                    channel=message.channel,
                    sender=message.sender[:320],
                    subject=message.subject[:300],
                    excerpt=message.text[:1000],
                    problem=f"no open case with reference {reference}"
                    if reference
                    else "no case reference found",
                    received_at=now,
                )
            )
        else:
            return outcome  # every attachment refused, and no case to tell
        for attachment, kind in taken:
            stored = await store(
                uow,
                vault,
                attachment,
                channel=message.channel,
                max_bytes=max_bytes,
                now=now,
                case_id=outcome.case_id,
                triage_id=outcome.triage_id,
                judged=kind,
            )
            if isinstance(stored, documents.Refusal):  # pragma: no cover - judged above
                outcome.refused.append(stored.reason)
            else:
                outcome.accepted.append(stored.document_id)
        if outcome.case_id is not None:
            if outcome.accepted:
                await uow.cases.documents_arrived(outcome.case_id, now)
            await uow.case_events.record(
                outcome.case_id,
                f"{message.channel}:{message.sender}",
                "documents_received",
                now,
                channel=message.channel,
                accepted=[str(d) for d in outcome.accepted],
                refused=outcome.refused,
            )
    return outcome
