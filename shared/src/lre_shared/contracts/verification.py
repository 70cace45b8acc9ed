"""The verification desk's contracts.

The one-time-code path of the acknowledgement of receipt (DESIGN §2 step 5): the pickup
site opens a case, the recipient sends identity documents (web upload here, or by email,
MMS or fax to the desk), support staff decide, and on approval the desk sends a code
through the notifier; the site checks the code the recipient types.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field

from lre_shared.contracts.base import (
    Base64Bytes,
    CodeChannel,
    ItemNumber,
    Language,
    Message,
    Reply,
    UtcDatetime,
)
from lre_shared.text import FileName, SafeText
from lre_shared.topology import Service, commands_exchange, events_exchange


class DocumentChannel(StrEnum):
    """How the recipient sends identity documents to the desk."""

    upload = "upload"  # on the pickup site
    email = "email"  # to the desk's inbound address, case reference in the subject
    mms = "mms"  # to the desk's MMS number, case reference in the text
    fax = "fax"  # to the desk's fax number (a fax-to-email gateway), reference on the cover page


class RequiredDocument(StrEnum):
    """A document the sender's verification policy asks of the recipient."""

    identity = "identity"  # an identity document valid today (policy `default`)
    identity_six_months = "identity_six_months"  # valid for more than 6 more months (policy `cnb`)
    company_extract = "company_extract"  # extrait Kbis with a valid SIREN/SIRET (policy `cnb`)
    bar_certificate = "bar_certificate"  # this year's bar registration certificate (policy `cnb`)


class CaseState(StrEnum):
    awaiting_documents = "awaiting_documents"  # opened, nothing received yet
    pending = "pending"  # documents in, waiting for an agent
    in_review = "in_review"  # claimed by an agent
    more_documents = "more_documents"  # the agent asked for more documents
    approved = "approved"  # identity verified; a code was sent
    rejected = "rejected"  # identity not verified; the reason says why


# Where the desk sends the one-time code, as the pickup site asks for it.
CodeAddress = Annotated[
    SafeText,
    Field(
        min_length=3,
        max_length=320,
        description="Where the code goes: the recipient's declared email, or declared mobile (E.164).",
    ),
]


class OpenVerificationCase(Message):
    """Request/reply: the recipient of an accepted letter asks for a one-time signing code.

    Opening twice for the same letter gives the same open case (its channels updated)."""

    exchange: ClassVar[str] = commands_exchange(Service.verification)
    routing_key: ClassVar[str] = "open_verification_case.v1"

    item_number: ItemNumber
    document_channel: DocumentChannel
    code_channel: CodeChannel
    code_address: CodeAddress
    language: Language = "fr"


class VerificationCaseOpened(Reply):
    """Reply to `OpenVerificationCase`: `case_id` is None, and `reason` says why, when no
    case could be opened (unknown letter, letter not accepted)."""

    routing_key: ClassVar[str] = "verification_case.opened.v1"

    case_id: UUID | None
    reference: str | None = Field(
        default=None, description="Short reference the recipient writes on what they send, e.g. LRE-7K3M9Q."
    )
    state: CaseState | None = None
    inbound_email: str | None = Field(default=None, description="Where to email documents.")
    inbound_mms: str | None = Field(default=None, description="E.164 number taking MMS.")
    inbound_fax: str | None = Field(default=None, description="E.164 fax number.")
    max_document_bytes: int | None = None
    reason: str | None = None
    required_documents: tuple[RequiredDocument, ...] = Field(
        default=(), description="What the sender's verification policy asks the recipient to send."
    )


class IdentifyWithProvider(Message):
    """Request/reply (answered by `VerificationCaseOpened`): the recipient of an accepted letter
    proved who they are through an identity provider (eIDAS substantial or high, CPCE R.53-1)
    instead of sending identity documents, on the one-time-code path.

    `matched`: the pickup site found the provider's names to be the letter's recipient's; the
    desk approves the letter's case without an agent and sends the code, where the sender's
    verification policy asks for nothing more than an identity (`default`). Otherwise (other
    names, or a policy asking for more documents) the case waits for an agent, `reason` on it.
    """

    exchange: ClassVar[str] = commands_exchange(Service.verification)
    routing_key: ClassVar[str] = "identify_with_provider.v1"

    item_number: ItemNumber
    matched: bool
    reason: SafeText | None = Field(default=None, max_length=1000, description="Why it did not match.")
    issuer: SafeText = Field(max_length=500)
    subject: SafeText = Field(max_length=500)
    acr: SafeText | None = Field(default=None, max_length=100)
    code_channel: CodeChannel
    code_address: CodeAddress
    language: Language = "fr"


class AddIdentityDocument(Message):
    """Request/reply: an identity document uploaded on the pickup site (PDF, JPEG or PNG)."""

    exchange: ClassVar[str] = commands_exchange(Service.verification)
    routing_key: ClassVar[str] = "add_identity_document.v1"

    case_id: UUID
    filename: FileName = Field(min_length=1, max_length=200)
    content: Base64Bytes


class IdentityDocumentAdded(Reply):
    """Reply to `AddIdentityDocument`: `accepted` is False, and `reason` states the rule (type,
    size limit), when the document was refused."""

    routing_key: ClassVar[str] = "identity_document.added.v1"

    accepted: bool
    document_id: UUID | None = None
    reason: str | None = None
    state: CaseState | None = None


class VerificationDecided(Message):
    """Support staff decided a case. On `approved` the desk has already asked the notifier to
    send the code (`SendCode`); `more_documents` reopens the case for the recipient."""

    exchange: ClassVar[str] = events_exchange(Service.verification)
    routing_key: ClassVar[str] = "verification.decided.v1"

    case_id: UUID
    item_number: str
    outcome: Literal["approved", "rejected", "more_documents"]
    reason: str | None = None
    decided_at: UtcDatetime


class RequestCode(Message):
    """Request/reply: send a new one-time code for an approved case (throttled)."""

    exchange: ClassVar[str] = commands_exchange(Service.verification)
    routing_key: ClassVar[str] = "request_code.v1"

    channel: CodeChannel | None = Field(
        default=None,
        description="Send it by this channel, to the recipient's declared address for it, instead of"
        " the last code's (e.g. once that one could not be sent, CodeFailed).",
    )


class CodeRequested(Reply):
    """Reply to `RequestCode`: `issued` is False, with `reason` and, when throttled,
    `retry_after_seconds`, or, while the letter's codes are locked, `locked_until`."""

    routing_key: ClassVar[str] = "code.requested.v1"

    issued: bool
    expires_at: UtcDatetime | None = None
    reason: str | None = None
    retry_after_seconds: int | None = None
    locked_until: UtcDatetime | None = Field(
        default=None, description="Codes for the letter are locked until then: none was sent."
    )


class CodeProblem(StrEnum):
    none_issued = "none_issued"  # no code for this letter (case not approved)
    wrong = "wrong"
    expired = "expired"  # older than its validity (10 minutes)
    used = "used"  # single use: already spent
    locked = "locked"  # too many wrong tries: ask for a new code


class CheckCode(Message):
    """Request/reply: the code the recipient typed on the signing page."""

    exchange: ClassVar[str] = commands_exchange(Service.verification)
    routing_key: ClassVar[str] = "check_code.v1"

    code: SafeText = Field(max_length=32, description="As typed; the desk normalises spaces.")


class CodeChecked(Reply):
    """Reply to `CheckCode`: `valid` True spends the code; otherwise `problem` says why."""

    routing_key: ClassVar[str] = "code.checked.v1"

    valid: bool
    problem: CodeProblem | None = None
    tries_left: int | None = None
    case_id: UUID | None = None
