"""The letter and its verification case as the pickup site reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from lre_shared.contracts import CaseState, Language, RequiredDocument, SignatureMethod


@dataclass(frozen=True)
class LetterView:
    letter_id: UUID
    item_number: str
    state: str
    recipient: dict[str, Any]
    sender: dict[str, Any]
    documents: list[dict[str, Any]]
    deposited_at: datetime
    deadline: date
    decided_at: datetime | None
    identity_failures: int
    signature_methods: tuple[SignatureMethod, ...]
    signed_at: datetime | None
    code_failures: int
    first_notice_at: datetime | None
    # The holds after wrong answers, as stored (`pickup.domain.locks`), by kind.
    identity_holds: str = "{}"
    code_holds: str = "{}"
    language: Language = "fr"  # the recipient's: notices, reminders and codes go in it

    @property
    def recipient_name(self) -> str:
        return f"{self.recipient.get('first_name', '')} {self.recipient.get('last_name', '')}".strip()


@dataclass(frozen=True)
class Case:
    """The verification case of the one-time-code path, as the desk last told this site."""

    case_id: UUID
    reference: str | None
    state: CaseState
    reason: str | None
    document_channel: str
    code_channel: str
    inbound_email: str | None
    inbound_mms: str | None
    inbound_fax: str | None
    max_document_bytes: int | None
    documents_sent: int
    required_documents: tuple[RequiredDocument, ...] = ()
    code_failure: str | None = None  # the last code could not be sent (CodeFailed)
    code_failed_channel: str | None = None


@dataclass(frozen=True)
class Signature:
    """The recipient's signature of the acknowledgement of receipt, as the letter records it."""

    letter_id: UUID
    signed_at: datetime
    method: SignatureMethod
    signer_name: str  # the certificate's name, or the verified recipient's
    receipt_sha256: str | None = None  # the signed AR PDF's (personal certificate)


@dataclass(frozen=True)
class DueLetter:
    """A letter still awaiting a decision whose acceptance window has closed."""

    letter_id: UUID
    item_number: str
    deadline: date


@dataclass(frozen=True)
class LetterHolds:
    """A letter's holds of each kind, as stored (`pickup.domain.locks`)."""

    item_number: str
    by_kind: dict[str, str]
