"""Signing the acknowledgement of receipt (avis de réception, AR), and the verification case
of the one-time-code path as pickup keeps it.

CPCE R.53-3: the content is handed over once the recipient signed the AR, either with a
personal certificate (the signer checks the signed PDF) or with a one-time code (the
verification desk checks the recipient's identity documents, then the code).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from lre_shared.clock import now_utc
from lre_shared.contracts import (
    AddIdentityDocument,
    CaseState,
    CheckCode,
    CheckSignedReceipt,
    CodeChecked,
    CodeFailed,
    CodeRequested,
    DocumentChannel,
    IdentityDocumentAdded,
    IssueReceiptForm,
    Language,
    OpenVerificationCase,
    ReceiptFormIssued,
    ReceiptSigned,
    RequestCode,
    SignatureMethod,
    SignedReceiptChecked,
    VerificationCaseOpened,
    VerificationDecided,
)
from pickup.domain.letter import Case, LetterView, Signature
from pickup.service_layer.ports import OtherServices, ServiceUnavailable, Storage, UnitOfWork

CodeChannel = Literal["email", "sms"]

log = logging.getLogger(__name__)

# How long a signed AR whose check outlasted the upload's wait is kept for another check: the
# signer's backlog is long gone by then, and the recipient, back later, uploads it again.
KEPT_FOR_CHECK = timedelta(hours=3)


async def record_signature(
    storage: Storage,
    letter_id: UUID,
    method: SignatureMethod,
    signer_name: str,
    *,
    receipt_sha256: str | None = None,
    case_id: UUID | None = None,
    now: datetime | None = None,
) -> bool:
    """Record the signed AR and announce it (ReceiptSigned) in one transaction.

    False when the letter is not accepted or was already signed: nothing is announced twice.
    """
    signature = Signature(letter_id, now or now_utc(), method, signer_name, receipt_sha256)
    async with storage.unit_of_work() as uow:
        item_number = await signed(uow, signature)
        if item_number is None:
            return False
        await uow.publish(receipt_signed(signature, item_number, case_id))
    return True


async def signed(uow: UnitOfWork, signature: Signature) -> str | None:
    """Record `signature` on the accepted, unsigned letter: its item number, else None. A
    signed AR kept for another check (`receipts_in_check`) is of no more use: it goes."""
    await uow.receipts_in_check.drop(signature.letter_id)
    return await uow.letters.record_signature(signature)


def receipt_signed(signature: Signature, item_number: str, case_id: UUID | None = None) -> ReceiptSigned:
    """The announcement of `signature`, once recorded on the letter (`item_number`)."""
    return ReceiptSigned(
        correlation_id=signature.letter_id,
        item_number=item_number,
        method=signature.method,
        signed_at=signature.signed_at,
        signer_name=signature.signer_name,
        receipt_sha256=signature.receipt_sha256,
        case_id=case_id,
    )


# ------------------------------------------------------------------ personal certificate


async def receipt_form(services: OtherServices, letter: LetterView) -> ReceiptFormIssued:
    """The AR the signer issued for the recipient to sign."""
    return await services.ask(IssueReceiptForm(correlation_id=letter.letter_id), ReceiptFormIssued)


async def sign_with_certificate(
    storage: Storage, services: OtherServices, letter: LetterView, pdf: bytes, now: datetime
) -> SignedReceiptChecked:
    """The signer checks the signed AR; once it accepts, the signature is recorded, under the
    name the certificate gives, and announced.

    When the check outlasts the wait (`ServiceUnavailable`, raised on), the signed AR is kept
    in this service's database, where every replica of the site finds it, for the page's
    button to ask again with (`kept_receipt`): a check changes nothing at the signer but keep
    the first signed AR it accepts. It goes with the check's outcome (`signed` when accepted),
    or `KEPT_FOR_CHECK` after (`forget_receipts_in_check`)."""
    try:
        checked = await services.ask(
            CheckSignedReceipt(correlation_id=letter.letter_id, pdf=pdf), SignedReceiptChecked
        )
    except ServiceUnavailable:
        await storage.receipts_in_check.keep(letter.letter_id, pdf, now)
        raise
    if checked.accepted:
        await record_signature(
            storage,
            letter.letter_id,
            SignatureMethod.certificate,
            checked.signer_name or letter.recipient_name,
            receipt_sha256=hashlib.sha256(pdf).hexdigest(),
            now=now,
        )
    else:
        await storage.receipts_in_check.drop(letter.letter_id)
    return checked


async def receipt_in_check(storage: Storage, letter_id: UUID) -> bool:
    """Whether a signed AR of the letter is kept for another check."""
    return await storage.receipts_in_check.kept(letter_id)


async def kept_receipt(storage: Storage, letter_id: UUID) -> bytes | None:
    """The signed AR kept for another check of the letter; None once gone (with the check's
    outcome, or its time): it is uploaded again."""
    return await storage.receipts_in_check.get(letter_id)


async def forget_receipts_in_check(storage: Storage, now: datetime) -> None:
    """Delete the signed ARs kept for another check longer than `KEPT_FOR_CHECK`."""
    await storage.receipts_in_check.drop_older_than(now - KEPT_FOR_CHECK)


# ------------------------------------------------------------------ verification case


async def open_case(
    storage: Storage,
    services: OtherServices,
    letter: LetterView,
    document_channel: DocumentChannel,
    code_channel: CodeChannel,
    code_address: str,
    language: Language,
) -> VerificationCaseOpened:
    """Ask the desk for a verification case (documents by `document_channel`, the code to
    the declared `code_address`), and keep the one it opens."""
    opened = await services.ask(
        OpenVerificationCase(
            correlation_id=letter.letter_id,
            item_number=letter.item_number,
            document_channel=document_channel,
            code_channel=code_channel,
            code_address=code_address,
            language=language,
        ),
        VerificationCaseOpened,
    )
    if opened.case_id is not None:
        await case_opened(storage, letter.letter_id, opened, document_channel, code_channel)
    return opened


async def add_document(
    storage: Storage, services: OtherServices, case: Case, letter: LetterView, filename: str, content: bytes
) -> IdentityDocumentAdded:
    """Hand an identity document to the desk, and count it once the desk took it."""
    added = await services.ask(
        AddIdentityDocument(
            correlation_id=letter.letter_id, case_id=case.case_id, filename=filename, content=content
        ),
        IdentityDocumentAdded,
    )
    if added.accepted:
        await document_added(storage, letter.letter_id, added.state)
    return added


async def sign_with_code(
    storage: Storage, services: OtherServices, letter: LetterView, case: Case, typed: str, now: datetime
) -> CodeChecked:
    """The desk checks the typed code; a valid one signs the AR, recorded and announced."""
    checked = await services.ask(CheckCode(correlation_id=letter.letter_id, code=typed), CodeChecked)
    if checked.valid:
        await record_signature(
            storage,
            letter.letter_id,
            SignatureMethod.one_time_code,
            letter.recipient_name,
            case_id=checked.case_id or case.case_id,
            now=now,
        )
    return checked


async def request_code(
    storage: Storage, services: OtherServices, letter: LetterView, channel: CodeChannel | None
) -> CodeRequested:
    """Ask the desk for a new code (by `channel` when the recipient chose another one)."""
    requested = await services.ask(
        RequestCode(correlation_id=letter.letter_id, channel=channel), CodeRequested
    )
    if requested.issued and requested.locked_until is None:
        await code_requested(storage, letter.letter_id, channel)
    return requested


async def find_case(storage: Storage, letter_id: UUID) -> Case | None:
    return await storage.cases.of_letter(letter_id)


async def case_opened(
    storage: Storage,
    letter_id: UUID,
    opened: VerificationCaseOpened,
    document_channel: DocumentChannel,
    code_channel: str,
) -> None:
    """Keep the case the desk opened (or gave again, with its channels updated)."""
    await storage.cases.opened(letter_id, opened, document_channel, code_channel)


async def document_added(storage: Storage, letter_id: UUID, state: CaseState | None) -> None:
    await storage.cases.document_added(letter_id, state)


async def on_code_failed(event: CodeFailed, uow: UnitOfWork) -> None:
    """The notifier could not send the letter's code: the code entry page says so and offers
    the recipient's other channel."""
    await uow.cases.code_failed(event)


async def code_requested(storage: Storage, letter_id: UUID, channel: str | None) -> None:
    """A new code is on its way (by `channel` when the recipient chose another one)."""
    await storage.cases.code_requested(letter_id, channel)


async def on_verification_decided(event: VerificationDecided, uow: UnitOfWork) -> None:
    """The desk decided: approved (a code is on its way), rejected, or more documents needed.

    A decision older than the one already applied (messages may arrive out of order) is ignored.
    """
    if not await uow.cases.decided(event):
        log.warning(
            "verification decision not applied (unknown letter, or an older decision)",
            extra={"letter_id": str(event.correlation_id), "case_id": str(event.case_id)},
        )
