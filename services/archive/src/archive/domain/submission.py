"""What the archive accepts as a deposit: the rules of `SubmitLetter`, each refusal by field.

`SubmitLetter` is read leniently (see `lre_shared.contracts.SubmittedSender`) so that every
problem below reaches the sender in one `LetterRejected` (ETSI EN 319 522
SubmissionRejection) instead of a dead-lettered command. A deposit with no problem becomes
the strict `Sender` and `Recipient` that `LetterDeposited` carries.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from pydantic import EmailStr, TypeAdapter, ValidationError

from archive.domain.documents import check_pdf
from lre_shared.contracts import (
    E164_PATTERN,
    LANGUAGES,
    RECIPIENT_KINDS,
    Document,
    NoticeChannel,
    Problem,
    Recipient,
    Sender,
    SubmitLetter,
    SubmittedRecipient,
    SubmittedSender,
)
from lre_shared.siret import siret_valid

MiB = 1024 * 1024

E164 = re.compile(E164_PATTERN)
COUNTRY = re.compile(r"^[A-Z]{2}$")
FRENCH_POSTCODE = re.compile(r"^[0-9]{5}$")
MAX_ADDRESS_LINES = 4  # AFNOR NF Z10-011: six lines at most, two of them name and city

_email = TypeAdapter(EmailStr)


@dataclass(frozen=True)
class Limits:
    """Size and count limits of a deposit (all configurable, see ArchiveSettings)."""

    document_bytes: int = 20 * MiB
    letter_bytes: int = 50 * MiB
    embedded_bytes: int = 1 * MiB  # larger documents are to be uploaded, not embedded
    attachments: int = 20


@dataclass(frozen=True)
class UploadedDocument:
    """What the archive found of a document uploaded through a presigned URL (RequestUpload):
    its size and SHA-256, computed while streaming it, and every problem with it or its bytes."""

    filename: str
    size: int
    sha256: str
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class IncomingDocument:
    field: str  # where the sender put it: main_document, attachments[0], main_upload_id ...
    role: Literal["main", "attachment"]
    filename: str
    size: int
    sha256: str
    content: bytes | None = None  # embedded in the message
    upload_id: UUID | None = None  # uploaded first: its bytes stay in the store
    problems: tuple[Problem, ...] = ()  # of an uploaded document, found while reading it


def incoming_documents(
    command: SubmitLetter, uploads: Mapping[UUID, UploadedDocument] | None = None
) -> tuple[IncomingDocument, ...]:
    """The letter's documents in order: main, embedded attachments, uploaded attachments.

    `uploads` holds what the handler found of each upload the command references."""
    found = uploads or {}

    def embedded(field: str, role: Literal["main", "attachment"], document: Document) -> IncomingDocument:
        content = document.content
        return IncomingDocument(
            field, role, document.filename, len(content), hashlib.sha256(content).hexdigest(), content
        )

    def uploaded(field: str, role: Literal["main", "attachment"], upload_id: UUID) -> IncomingDocument:
        upload = found.get(upload_id)
        if upload is None:
            unknown = Problem(field=field, reason=f"no upload {upload_id}: request one with RequestUpload")
            return IncomingDocument(field, role, f"{upload_id}.pdf", 0, "", None, upload_id, (unknown,))
        return IncomingDocument(
            field, role, upload.filename, upload.size, upload.sha256, None, upload_id, upload.problems
        )

    documents: list[IncomingDocument] = []
    if command.main_document is not None:
        documents.append(embedded("main_document", "main", command.main_document))
    elif command.main_upload_id is not None:
        documents.append(uploaded("main_upload_id", "main", command.main_upload_id))
    documents.extend(
        embedded(f"attachments[{i}]", "attachment", d) for i, d in enumerate(command.attachments)
    )
    documents.extend(
        uploaded(f"attachment_upload_ids[{i}]", "attachment", u)
        for i, u in enumerate(command.attachment_upload_ids)
    )
    return tuple(documents)


def upload_ids(command: SubmitLetter) -> tuple[UUID, ...]:
    """Every upload the command references, main document first."""
    main = (command.main_upload_id,) if command.main_upload_id is not None else ()
    return (*main, *command.attachment_upload_ids)


def check_submission(
    command: SubmitLetter,
    documents: tuple[IncomingDocument, ...] | None = None,
    *,
    limits: Limits,
    senders: frozenset[str] | None,
) -> list[Problem]:
    """Every problem of a deposit, by field; empty when the archive can take it.

    `documents` defaults to the embedded ones; `senders` is the allow-list of sender ids,
    None accepting any sender (development).
    """
    if documents is None:
        documents = incoming_documents(command)
    problems = [
        *_sender_problems(command.sender, senders),
        *_recipient_problems(command.recipient),
        *_channel_problems(command),
        *_document_problems(command, documents, limits),
    ]
    if not command.signature_methods:
        problems.append(
            Problem(
                field="signature_methods",
                reason="no signature method allowed: allow certificate, one_time_code or both",
            )
        )
    if not problems:
        try:
            accepted_parties(command)
        except ValidationError as exc:  # a rule the checks above missed: still a refusal by field
            problems.extend(
                Problem(field=".".join(str(p) for p in error["loc"]), reason=error["msg"])
                for error in exc.errors()
            )
    return problems


def accepted_parties(command: SubmitLetter) -> tuple[Sender, Recipient]:
    """The sender and recipient as `LetterDeposited` carries them: trimmed and normalised."""
    s, r = command.sender, command.recipient
    company = _clean(s.company)
    sender = Sender(
        id=s.id.strip(),
        name=s.name.strip() or company or "",
        company=company,
        email=s.email.strip(),
        siret=_compact(s.siret),
    )
    recipient = Recipient(
        company=_clean(r.company),
        last_name=r.last_name.strip(),
        first_name=r.first_name.strip(),
        address=r.address.strip(),
        address_lines=tuple(line.strip() for line in r.address_lines if line.strip()),
        postcode=r.postcode.strip(),
        city=r.city.strip(),
        country=r.country.strip().upper(),
        email=r.email.strip(),
        mobile=_compact(r.mobile),
        fax=_compact(r.fax),
        landline=_compact(r.landline),
        language=r.language.strip().lower(),
        kind=r.kind.strip().lower(),
        # CPCE R.53-1: the pickup site compares it with the identity provider's birth date.
        birth_date=r.birth_date,
    )
    return sender, recipient


def submission_fingerprint(
    command: SubmitLetter, documents: tuple[IncomingDocument, ...] | None = None
) -> str:
    """SHA-256 of what the sender asked for, documents by their hash: two submissions under
    one idempotency key are the same letter when this is equal. The letter id, message id and
    time are left out, so a retry built afresh still matches."""
    content = command.model_dump(
        mode="json",
        include={"sender", "recipient", "verification_policy", "alert_channels", "signature_methods"},
    )
    for name, default in (("language", "fr"), ("kind", "consumer"), ("birth_date", None)):
        if content["recipient"].get(name) == default:
            # A default: fingerprints of deposits made before the field existed stay the same.
            del content["recipient"][name]
    if documents is None:
        documents = incoming_documents(command)
    # Embedded or uploaded, a document is the same by its name and hash.
    content["documents"] = [[d.role, d.filename, d.sha256] for d in documents]
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# ---------------------------------------------------------------------------- rules


def _sender_problems(sender: SubmittedSender, senders: frozenset[str] | None) -> Iterator[Problem]:
    sender_id = sender.id.strip()
    if not sender_id:
        yield Problem(field="sender.id", reason="missing: the sender system's id is required")
    elif len(sender_id) > 100:
        yield Problem(field="sender.id", reason="longer than 100 characters")
    elif senders is not None and sender_id not in senders:
        yield Problem(
            field="sender.id",
            reason=f"unknown sender {sender_id!r}: ask the platform operator to register it",
        )
    if not sender.name.strip() and not _clean(sender.company):
        yield Problem(field="sender.name", reason="missing: give the sender's name or company")
    yield from _too_long("sender.name", sender.name, 200)
    yield from _too_long("sender.company", sender.company, 200)
    yield from _email_problems("sender.email", sender.email)
    siret = _compact(sender.siret)
    if siret is not None and not siret_valid(siret):
        yield Problem(
            field="sender.siret",
            reason=f"{sender.siret!r} is not a valid SIRET: 14 digits, not all zeros, with a correct"
            " check digit (La Poste's establishments: digits summing to a multiple of 5)",
        )


def _recipient_problems(recipient: SubmittedRecipient) -> Iterator[Problem]:
    for name, value, limit in (
        ("last_name", recipient.last_name, 100),
        ("first_name", recipient.first_name, 100),
        ("address", recipient.address, 300),
        ("postcode", recipient.postcode, 20),
        ("city", recipient.city, 100),
    ):
        if not value.strip():
            yield Problem(field=f"recipient.{name}", reason="missing: required to identify the recipient")
        yield from _too_long(f"recipient.{name}", value, limit)
    yield from _too_long("recipient.company", recipient.company, 200)
    if len(recipient.address_lines) > MAX_ADDRESS_LINES:
        yield Problem(
            field="recipient.address_lines",
            reason=f"{len(recipient.address_lines)} lines; at most {MAX_ADDRESS_LINES} after the first",
        )
    for i, line in enumerate(recipient.address_lines):
        yield from _too_long(f"recipient.address_lines[{i}]", line, 300)
    if recipient.language.strip().lower() not in LANGUAGES:
        yield Problem(
            field="recipient.language",
            reason=f"{recipient.language[:20]!r} is not a language of the platform: fr or en",
        )
    if recipient.kind.strip().lower() not in RECIPIENT_KINDS:
        yield Problem(
            field="recipient.kind",
            reason=f"{recipient.kind[:20]!r} is not a kind of recipient: consumer (the default) or"
            " professional (CPCE L.100)",
        )
    country = recipient.country.strip().upper()
    if not COUNTRY.match(country):
        yield Problem(
            field="recipient.country",
            reason=f"{recipient.country!r} is not an ISO 3166-1 alpha-2 country code (e.g. FR)",
        )
    elif (
        country == "FR"
        and recipient.postcode.strip()
        and not FRENCH_POSTCODE.match(recipient.postcode.strip())
    ):
        yield Problem(
            field="recipient.postcode", reason=f"{recipient.postcode!r} is not a French postcode (5 digits)"
        )
    yield from _email_problems("recipient.email", recipient.email)
    for name in ("mobile", "fax", "landline"):
        raw = getattr(recipient, name)
        number = _compact(raw)
        if number is not None and not E164.match(number):
            yield Problem(
                field=f"recipient.{name}",
                reason=f"{raw!r} is not an E.164 number: + then country code and number, e.g. +33612345678",
            )


def _channel_problems(command: SubmitLetter) -> Iterator[Problem]:
    r = command.recipient
    needs = {
        NoticeChannel.sms: (("mobile",), r.mobile),
        NoticeChannel.voice: (("mobile", "landline"), r.mobile or r.landline),
        NoticeChannel.fax: (("fax",), r.fax),
    }
    for channel in dict.fromkeys(command.alert_channels):
        if channel in needs:
            fields, number = needs[channel]
            if not _compact(number):
                yield Problem(
                    field="alert_channels",
                    reason=f"{channel.value} requested but no "
                    + " or ".join(f"recipient.{f}" for f in fields)
                    + " number given",
                )


def _document_problems(
    command: SubmitLetter, documents: tuple[IncomingDocument, ...], limits: Limits
) -> Iterator[Problem]:
    attachments = len(command.attachments) + len(command.attachment_upload_ids)
    if attachments > limits.attachments:
        yield Problem(
            field="attachments",
            reason=f"{attachments} attachments; the limit is {limits.attachments}",
        )
    seen: set[str] = set()
    for document in documents:
        name = document.filename.strip()
        if any(c in name for c in "/\\") or any(ord(c) < 32 for c in name):
            yield Problem(
                field=f"{document.field}.filename",
                reason="a file name, not a path: no '/', '\\' or control characters",
            )
        elif name.casefold() in seen:
            yield Problem(
                field=f"{document.field}.filename",
                reason=f"another document of this letter is already named {name!r}",
            )
        seen.add(name.casefold())
        if document.content is None:  # uploaded: judged while the handler read it
            yield from document.problems
            continue
        field = f"{document.field}.content"
        if limits.embedded_bytes < document.size <= limits.document_bytes:
            yield Problem(
                field=field,
                reason=f"the document is {document.size} bytes; documents embedded in the message are"
                f" limited to {limits.embedded_bytes} bytes: upload it first (RequestUpload)",
            )
        yield from check_pdf(field, document.content, limits.document_bytes)
    total = sum(d.size for d in documents)
    if total > limits.letter_bytes:
        yield Problem(
            field="documents",
            reason=f"the letter's documents total {total} bytes; the limit is {limits.letter_bytes} bytes",
        )


def _email_problems(field: str, value: str) -> Iterator[Problem]:
    address = value.strip()
    if not address:
        yield Problem(field=field, reason="missing: an email address is required")
        return
    try:
        _email.validate_python(address)
    except ValidationError as exc:
        detail = exc.errors()[0]["msg"].removeprefix("value is not a valid email address: ")
        yield Problem(field=field, reason=f"{value!r} is not a valid email address: {detail}")


def _too_long(field: str, value: str | None, limit: int) -> Iterator[Problem]:
    if value is not None and len(value.strip()) > limit:
        yield Problem(field=field, reason=f"longer than {limit} characters")


def _clean(value: str | None) -> str | None:
    return (value or "").strip() or None


def _compact(value: str | None) -> str | None:
    """A number as typed, without the spaces people put in it."""
    return "".join((value or "").split()) or None
