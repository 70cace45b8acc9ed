"""Message contracts of the bus.

Every message is a frozen pydantic model serialised as JSON. It carries a `message_id`
(UUID, the deduplication key of every inbox), a `correlation_id` (the letter id: every
message about a letter carries it, so logs and traces of one letter line up) and an
`occurred_at` in UTC. Consumers ignore fields they do not know, so a producer may add an
optional field without breaking anyone; a breaking change is a new model published under
a `.v2` routing key beside `.v1`.

Commands are imperative (`SubmitLetter`, `SendNotice`); events are past tense
(`LetterDeposited`, `NoticeSent`). Each class names the exchange it travels on and its
routing key; `lre_shared.topology` derives every queue name from those.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    PlainValidator,
    model_validator,
)

from lre_shared.text import FileName, SafeText
from lre_shared.topology import Service, commands_exchange, events_exchange


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


def _decode_b64(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ValueError("not valid base64") from exc


Base64Bytes = Annotated[
    bytes,
    PlainValidator(_decode_b64, json_schema_input_type=str),
    PlainSerializer(lambda b: base64.b64encode(b).decode("ascii"), return_type=str),
]


def now_utc() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """A value carried inside messages: frozen, and tolerant of fields it does not know."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Message(Contract):
    """Base of every command, event and reply on the bus."""

    exchange: ClassVar[str]
    routing_key: ClassVar[str]

    message_id: UUID = Field(default_factory=uuid4)
    correlation_id: UUID = Field(description="The letter this message is about.")
    occurred_at: UtcDatetime = Field(default_factory=now_utc)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class Reply(Message):
    """The answer to a request/reply query: sent to the asker's reply queue through the
    default exchange, never routed by topology."""

    exchange: ClassVar[str] = ""


# ----------------------------------------------------------------------------- values


E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")


class SubmittedSender(Contract):
    """The sender as a sender system declares it in `SubmitLetter`.

    Read leniently on purpose: the archive checks every field itself and refuses the deposit
    with a reason per field (`LetterRejected`), where a strict model would dead-letter the whole
    command and leave the sender without an answer. `Sender` is this, checked.
    """

    # A `Sender`/`Recipient` handed in is read as the submission it is, so commands compare
    # equal after a JSON round trip.
    model_config = ConfigDict(frozen=True, extra="ignore", revalidate_instances="subclass-instances")

    id: SafeText = Field(default="", description="Sender system id (the archive may keep an allow-list).")
    name: SafeText = Field(default="", description="Person or company name; the company's if empty.")
    company: SafeText | None = Field(default=None, description="Company name, when the sender is one.")
    email: SafeText = ""
    siret: SafeText | None = Field(default=None, description="French SIRET, 14 digits (Luhn check).")


class Sender(SubmittedSender):
    """A sender the archive accepted."""

    id: SafeText = Field(min_length=1, max_length=100, description="Sender system id.")
    name: SafeText = Field(min_length=1, max_length=200, description="Person or company name.")
    company: SafeText | None = Field(default=None, max_length=200)
    email: EmailStr
    siret: SafeText | None = Field(default=None, pattern=r"^[0-9]{14}$")


class SubmittedRecipient(Contract):
    """The recipient as a sender system declares it in `SubmitLetter`: read leniently, checked
    by the archive with a reason per field (see `SubmittedSender`). `Recipient` is this, checked."""

    # A `Sender`/`Recipient` handed in is read as the submission it is, so commands compare
    # equal after a JSON round trip.
    model_config = ConfigDict(frozen=True, extra="ignore", revalidate_instances="subclass-instances")

    company: SafeText | None = None
    last_name: SafeText = ""
    first_name: SafeText = ""
    address: SafeText = Field(default="", description="First address line (number and street).")
    address_lines: tuple[SafeText, ...] = Field(
        default=(), description="Further address lines (building, floor, BP, lieu-dit), at most 4."
    )
    postcode: SafeText = ""
    city: SafeText = ""
    country: SafeText = Field(default="FR", description="ISO 3166-1 alpha-2 code.")
    email: SafeText = ""
    mobile: SafeText | None = Field(default=None, description="E.164, e.g. +33612345678.")
    fax: SafeText | None = Field(default=None, description="E.164.")
    landline: SafeText | None = Field(default=None, description="E.164.")
    language: SafeText = Field(
        default="fr",
        description="The recipient's language (fr or en): notices, reminders, codes and pages use it.",
    )


class Recipient(SubmittedRecipient):
    """A recipient the archive accepted."""

    company: SafeText | None = Field(default=None, max_length=200)
    last_name: SafeText = Field(min_length=1, max_length=100)
    first_name: SafeText = Field(min_length=1, max_length=100)
    address: SafeText = Field(min_length=1, max_length=300)
    address_lines: tuple[SafeText, ...] = Field(default=(), max_length=4)
    postcode: SafeText = Field(min_length=1, max_length=20)
    city: SafeText = Field(min_length=1, max_length=100)
    country: SafeText = Field(default="FR", min_length=2, max_length=2)
    email: EmailStr
    mobile: SafeText | None = Field(default=None, pattern=E164_PATTERN)
    fax: SafeText | None = Field(default=None, pattern=E164_PATTERN)
    landline: SafeText | None = Field(default=None, pattern=E164_PATTERN)
    language: Language = "fr"


class Document(Contract):
    """A document as the sender hands it over (embedded, small letters only)."""

    filename: FileName = Field(min_length=1, max_length=200)
    content: Base64Bytes = Field(description="The file, base64.")


class StoredDocument(Contract):
    """A document the archive keeps, known by its hash."""

    document_id: UUID
    filename: FileName
    size: int
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: Literal["main", "attachment"] = "main"


class NoticeChannel(StrEnum):
    email = "email"  # the legal channel (CPCE R.53-3)
    sms = "sms"
    voice = "voice"
    fax = "fax"


class SignatureMethod(StrEnum):
    """How the recipient may sign the acknowledgement of receipt (AR)."""

    certificate = "certificate"  # PAdES with the recipient's own certificate
    one_time_code = "one_time_code"  # identity checked by support staff, then a code


class NoticeKind(StrEnum):
    notice = "notice"  # avis de mise à disposition
    reminder = "reminder"  # relance


# --------------------------------------------------------------------------- archive


class SubmitLetter(Message):
    """A sender system deposits a letter (command).

    What does not parse as this model (wrong types, unknown channel or policy, bad base64) is
    dead-lettered with the reason; every rule about the content (sender, recipient, documents,
    limits, idempotency key) is answered by `LetterRejected`, listing every problem by field.
    """

    exchange: ClassVar[str] = commands_exchange(Service.archive)
    routing_key: ClassVar[str] = "submit_letter.v1"

    sender: SubmittedSender
    recipient: SubmittedRecipient
    main_document: Document | None = Field(
        default=None, description="Embedded (small letters only); or give main_upload_id instead."
    )
    main_upload_id: UUID | None = Field(
        default=None, description="The main document, uploaded first (RequestUpload); or main_document."
    )
    attachments: tuple[Document, ...] = Field(default=(), description="Embedded, like the main document.")
    attachment_upload_ids: tuple[UUID, ...] = Field(
        default=(), description="Attachments uploaded first (RequestUpload), after the embedded ones."
    )
    verification_policy: Literal["default", "cnb"] = "default"
    alert_channels: tuple[NoticeChannel, ...] = Field(
        default=(NoticeChannel.email,),
        description="Channels the recipient is told on; email, the legal channel, always is.",
    )
    signature_methods: tuple[SignatureMethod, ...] = Field(
        default=(SignatureMethod.certificate, SignatureMethod.one_time_code),
        description="How the recipient may sign the acknowledgement of receipt.",
    )
    idempotency_key: SafeText | None = Field(
        default=None,
        max_length=200,
        description="The sender's key: the same key with the same content gives the same letter"
        " (its LetterDeposited again), never a second one; with other content it is refused.",
    )

    @model_validator(mode="after")
    def _one_main_document(self) -> SubmitLetter:
        if (self.main_document is None) == (self.main_upload_id is None):
            raise ValueError(
                "give the main document either embedded (main_document) or uploaded"
                " (main_upload_id), exactly one of them"
            )
        return self


class LetterDeposited(Message):
    """The archive accepted a deposit, stored its content and assigned an item number."""

    exchange: ClassVar[str] = events_exchange(Service.archive)
    routing_key: ClassVar[str] = "letter.deposited.v1"

    item_number: str = Field(pattern=r"^[0-9]{12}$", description="Numéro de pli.")
    sender: Sender
    recipient: Recipient
    documents: tuple[StoredDocument, ...]
    verification_policy: Literal["default", "cnb"]
    deposited_at: UtcDatetime
    alert_channels: tuple[NoticeChannel, ...] = (NoticeChannel.email,)
    signature_methods: tuple[SignatureMethod, ...] = (
        SignatureMethod.certificate,
        SignatureMethod.one_time_code,
    )
    idempotency_key: str | None = None


class Problem(Contract):
    field: str
    reason: str


class LetterRejected(Message):
    """The archive refused a deposit; every problem is listed by field."""

    exchange: ClassVar[str] = events_exchange(Service.archive)
    routing_key: ClassVar[str] = "letter.rejected.v1"

    sender_id: str
    problems: tuple[Problem, ...]
    idempotency_key: str | None = None


class IssueDownloadLink(Message):
    """Request/reply: a short-lived link to one stored document of an accepted letter."""

    exchange: ClassVar[str] = commands_exchange(Service.archive)
    routing_key: ClassVar[str] = "issue_download_link.v1"

    document_id: UUID


class DownloadLinkIssued(Reply):
    """Reply to `IssueDownloadLink`: `url` is empty when no such document is available."""

    routing_key: ClassVar[str] = "download_link.issued.v1"

    document_id: UUID
    url: str
    expires_at: UtcDatetime | None
    reason: str | None = None


class IssueZipLink(Message):
    """Request/reply: a short-lived link to the whole letter as one zip (main document,
    attachments and the envelope proof `pli_<number>.pdf`), streamed by the archive in
    constant memory. The link is for the pickup site, which streams it on to the recipient."""

    exchange: ClassVar[str] = commands_exchange(Service.archive)
    routing_key: ClassVar[str] = "issue_zip_link.v1"


class ZipLinkIssued(Reply):
    """Reply to `IssueZipLink`: `url` is empty, and `reason` says why, when none can be issued."""

    routing_key: ClassVar[str] = "zip_link.issued.v1"

    url: str
    filename: str | None = None
    expires_at: UtcDatetime | None = None
    reason: str | None = None


# -------------------------------------------------------------------------- notifier


class SendNotice(Message):
    """Tell a recipient that a letter waits (CPCE R.53-3: never the sender's name)."""

    exchange: ClassVar[str] = commands_exchange(Service.notifier)
    routing_key: ClassVar[str] = "send_notice.v1"

    item_number: str = Field(pattern=r"^[0-9]{12}$")
    channel: NoticeChannel = NoticeChannel.email
    address: EmailStr
    deadline: date = Field(description="Last day (Europe/Paris) to accept or refuse.")
    language: Literal["fr", "en"] = "fr"
    kind: NoticeKind = NoticeKind.notice
    phone: str | None = Field(
        default=None, description="E.164 number for the sms and voice channels, e.g. +33612345678."
    )
    fax: str | None = Field(default=None, description="E.164 fax number for the fax channel.")
    fallback: tuple[NoticeChannel, ...] = Field(
        default=(),
        description="Channels to try, in this order, when `channel` fails for good (e.g. email → sms).",
    )
    landline: str | None = Field(
        default=None, description="E.164 landline, called on the voice channel when there is no `phone`."
    )
    channels: tuple[NoticeChannel, ...] = Field(
        default=(),
        description="Every channel the letter's notices go on, email first (lre_shared.notices):"
        " reminders go on the same ones.",
    )
    round_id: UUID | None = Field(
        default=None,
        description="Shared by the commands of one notice or reminder, one per channel: each channel"
        " is used once a round, and a fallback skips the channels another command of it used.",
    )


class NoticeSent(Message):
    exchange: ClassVar[str] = events_exchange(Service.notifier)
    routing_key: ClassVar[str] = "notice.sent.v1"

    notice_id: UUID = Field(description="message_id of the SendNotice this answers.")
    item_number: str
    channel: NoticeChannel
    address: str
    sent_at: UtcDatetime
    provider_message_id: str | None = None
    kind: NoticeKind = NoticeKind.notice


class NoticeDelivered(Message):
    """The provider confirmed delivery to the recipient's device (SMS, call answered)."""

    exchange: ClassVar[str] = events_exchange(Service.notifier)
    routing_key: ClassVar[str] = "notice.delivered.v1"

    notice_id: UUID
    channel: NoticeChannel
    provider_message_id: str
    status: str = Field(description="The provider's final status, e.g. delivered, completed.")
    delivered_at: UtcDatetime


class NoticeFailed(Message):
    exchange: ClassVar[str] = events_exchange(Service.notifier)
    routing_key: ClassVar[str] = "notice.failed.v1"

    notice_id: UUID
    item_number: str
    channel: NoticeChannel
    address: str
    reason: str
    permanent: bool
    kind: NoticeKind = NoticeKind.notice
    attempts: tuple[str, ...] = Field(
        default=(), description="Every channel tried and why it failed, in order."
    )


class SendCode(Message):
    """Send a one-time signing code to a recipient whose identity was verified.

    Codes go by email or SMS only; the message names neither the sender nor the subject.
    """

    exchange: ClassVar[str] = commands_exchange(Service.notifier)
    routing_key: ClassVar[str] = "send_code.v1"

    channel: Literal["email", "sms"]
    address: str = Field(min_length=3, max_length=320, description="Email address or E.164 number.")
    code: str = Field(pattern=r"^[0-9]{6,8}$")
    expires_at: UtcDatetime
    language: Literal["fr", "en"] = "fr"


class CodeSent(Message):
    exchange: ClassVar[str] = events_exchange(Service.notifier)
    routing_key: ClassVar[str] = "code.sent.v1"

    code_id: UUID = Field(description="message_id of the SendCode this answers.")
    channel: Literal["email", "sms"]
    sent_at: UtcDatetime
    provider_message_id: str | None = None


class CodeFailed(Message):
    exchange: ClassVar[str] = events_exchange(Service.notifier)
    routing_key: ClassVar[str] = "code.failed.v1"

    code_id: UUID
    channel: Literal["email", "sms"]
    reason: str


# ---------------------------------------------------------------------------- pickup


class LetterAccepted(Message):
    """The recipient accepted the letter (ETSI EN 319 522: ConsignmentAcceptance)."""

    exchange: ClassVar[str] = events_exchange(Service.pickup)
    routing_key: ClassVar[str] = "letter.accepted.v1"

    item_number: str
    accepted_at: UtcDatetime


class LetterRefused(Message):
    """The recipient refused the letter (ETSI EN 319 522: ConsignmentRejection)."""

    exchange: ClassVar[str] = events_exchange(Service.pickup)
    routing_key: ClassVar[str] = "letter.refused.v1"

    item_number: str
    refused_at: UtcDatetime


# ---------------------------------------------------------------------------- signer


class EvidenceRecorded(Message):
    """The signer recorded an evidence record in a letter's hash chain."""

    exchange: ClassVar[str] = events_exchange(Service.signer)
    routing_key: ClassVar[str] = "evidence.recorded.v1"

    evidence_id: UUID
    event: str = Field(description="ETSI EN 319 522 event name, e.g. SubmissionAcceptance.")
    event_time: UtcDatetime
    record_sha256: str
    previous_sha256: str | None


class ReceiptProblem(StrEnum):
    """Why a signed acknowledgement of receipt (AR) was not accepted: one reason each."""

    unreadable = "unreadable"  # not a PDF, or not one that can be read
    unsigned = "unsigned"  # no signature in it
    not_issued = "not_issued"  # no AR was issued for this letter
    not_our_receipt = "not_our_receipt"  # the signed revision is not the AR we issued, byte for byte
    signature_broken = "signature_broken"  # the signature does not match the signed bytes
    modified_after_signing = "modified_after_signing"  # bytes added after the signature
    untrusted = "untrusted"  # the certificate does not chain to a trusted root
    expired = "expired"  # the certificate (or a CA of its chain) had expired at the signature's time
    not_yet_valid = "not_yet_valid"  # the certificate (or a CA of its chain) was not valid yet then
    revoked = "revoked"  # the certificate was revoked at the signature's time (OCSP or CRL)
    revocation_unknown = "revocation_unknown"  # no OCSP response or CRL could settle it
    wrong_key_usage = "wrong_key_usage"  # the certificate's key is not for signing (key usage)
    name_mismatch = "name_mismatch"  # the certificate names someone other than the recipient


class IssueReceiptForm(Message):
    """Request/reply: the AR PDF (avis de réception) an accepted letter's recipient signs with
    a personal certificate (CPCE R.53-3)."""

    exchange: ClassVar[str] = commands_exchange(Service.signer)
    routing_key: ClassVar[str] = "issue_receipt_form.v1"


class ReceiptFormIssued(Reply):
    """Reply to `IssueReceiptForm`: `pdf` is empty, and `reason` says why, when none can be issued."""

    routing_key: ClassVar[str] = "receipt_form.issued.v1"

    filename: str
    pdf: Base64Bytes = Field(description="The AR to sign, base64; the same bytes at every request.")
    sha256: str | None
    reason: str | None = None


class CheckSignedReceipt(Message):
    """Request/reply: check an AR the recipient signed with a personal certificate."""

    exchange: ClassVar[str] = commands_exchange(Service.signer)
    routing_key: ClassVar[str] = "check_signed_receipt.v1"

    pdf: Base64Bytes = Field(description="The signed AR as uploaded, base64.")


class SignedReceiptChecked(Reply):
    """Reply to `CheckSignedReceipt`: `problem` is None when the signed AR is accepted."""

    routing_key: ClassVar[str] = "signed_receipt.checked.v1"

    accepted: bool
    problem: ReceiptProblem | None = None
    detail: str = Field(
        description="What was found, in English, for logs and support staff; pages word it from the"
        " fields below."
    )
    signer_name: str | None = None
    certificate_issuer: str | None = Field(default=None, description="Who issued the signing certificate.")
    problem_at: UtcDatetime | None = Field(
        default=None,
        description="When the problem took effect: the end of validity (expired), its start"
        " (not_yet_valid) or the revocation (revoked).",
    )
    judged_at: UtcDatetime | None = Field(
        default=None,
        description="The time the certificate was judged at: the signature's time when a trusted"
        " timestamp proves it, else the time the signed AR was received.",
    )
    timestamped: bool = Field(default=False, description="`judged_at` is proved by a signature timestamp.")


ALL_MESSAGES: tuple[type[Message], ...] = (
    SubmitLetter,
    LetterDeposited,
    LetterRejected,
    IssueDownloadLink,
    DownloadLinkIssued,
    SendNotice,
    NoticeSent,
    NoticeFailed,
    LetterAccepted,
    LetterRefused,
    EvidenceRecorded,
    NoticeDelivered,
    SendCode,
    CodeSent,
    CodeFailed,
    IssueReceiptForm,
    ReceiptFormIssued,
    CheckSignedReceipt,
    SignedReceiptChecked,
)


# ------------------------------------------------------------------- archive (downloads)


class ContentHandedOver(Message):
    """The recipient took the content: the first download link of an accepted letter was
    issued (ETSI EN 319 522: ContentHandover)."""

    exchange: ClassVar[str] = events_exchange(Service.archive)
    routing_key: ClassVar[str] = "content.handed_over.v1"

    item_number: str
    document_id: UUID = Field(description="The document of the first download.")
    handed_over_at: UtcDatetime


class ContentHandoverFailed(Message):
    """The download window of an accepted letter passed with no download; its content is
    deleted (ETSI EN 319 522: ContentHandoverFailure)."""

    exchange: ClassVar[str] = events_exchange(Service.archive)
    routing_key: ClassVar[str] = "content.handover_failed.v1"

    item_number: str
    window_closed_at: UtcDatetime = Field(description="End of the download window.")


ALL_MESSAGES = (*ALL_MESSAGES, ContentHandedOver, ContentHandoverFailed)


# ---------------------------------------------------------------------- verification
#
# The one-time-code path of the acknowledgement of receipt (DESIGN §2 step 5): the pickup
# site opens a case, the recipient sends identity documents (web upload here, or by email,
# MMS or fax to the desk), support staff decide, and on approval the desk sends a code
# through the notifier; the site checks the code the recipient types.


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


class OpenVerificationCase(Message):
    """Request/reply: the recipient of an accepted letter asks for a one-time signing code.

    Opening twice for the same letter gives the same open case (its channels updated)."""

    exchange: ClassVar[str] = commands_exchange(Service.verification)
    routing_key: ClassVar[str] = "open_verification_case.v1"

    item_number: str = Field(pattern=r"^[0-9]{12}$")
    document_channel: DocumentChannel
    code_channel: Literal["email", "sms"]
    code_address: SafeText = Field(
        min_length=3,
        max_length=320,
        description="Where the code goes: the recipient's declared email, or declared mobile (E.164).",
    )
    language: Literal["fr", "en"] = "fr"


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

    channel: Literal["email", "sms"] | None = Field(
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


class SendCaseConfirmation(Message):
    """Confirm to the recipient, by the channel chosen for the code, that their verification
    case is open: its reference, how the documents are to be sent and which ones the sender's
    policy requires. Like a code, it names neither the sender nor the subject (CPCE R.53-3)."""

    exchange: ClassVar[str] = commands_exchange(Service.notifier)
    routing_key: ClassVar[str] = "send_case_confirmation.v1"

    channel: Literal["email", "sms"]
    address: str = Field(min_length=3, max_length=320, description="Email address or E.164 number.")
    reference: str = Field(min_length=1, max_length=40, description="The case reference, e.g. LRE-7K3M9Q.")
    document_channel: DocumentChannel
    document_address: str | None = Field(
        default=None,
        description="Where the documents go: the desk's email address, MMS or fax number; none for upload.",
    )
    required_documents: tuple[RequiredDocument, ...] = Field(min_length=1)
    language: Language = "fr"


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


# ------------------------------------------------------------- pickup (lifecycle end)


class ReceiptSigned(Message):
    """The recipient signed the acknowledgement of receipt (avis de réception, CPCE R.53-3),
    with a personal certificate or a one-time code; the content may now be downloaded."""

    exchange: ClassVar[str] = events_exchange(Service.pickup)
    routing_key: ClassVar[str] = "receipt.signed.v1"

    item_number: str
    method: SignatureMethod
    signed_at: UtcDatetime
    signer_name: str = Field(description="The certificate's name, or the verified recipient's name.")
    receipt_sha256: str | None = Field(default=None, description="The signed AR PDF (certificate path).")
    case_id: UUID | None = Field(default=None, description="The verification case (one-time code path).")


class LetterUnclaimed(Message):
    """The acceptance window closed with no decision: the letter is unclaimed (non réclamée;
    ETSI EN 319 522: AcceptanceRejectionExpiry). The sender gets it at once."""

    exchange: ClassVar[str] = events_exchange(Service.pickup)
    routing_key: ClassVar[str] = "letter.unclaimed.v1"

    item_number: str
    window_closed_at: UtcDatetime


class LetterLanguageChanged(Message):
    """The recipient switched the pickup site's language on the letter's pages: the letter's
    notices, reminders, codes and confirmations use it from now on."""

    exchange: ClassVar[str] = events_exchange(Service.pickup)
    routing_key: ClassVar[str] = "letter.language_changed.v1"

    item_number: str
    language: Language
    changed_at: UtcDatetime


# ------------------------------------------------------------------------ pickup (locks)
# Wrong identities or one-time codes hold an item for a while (the pickup site's
# `domain.locks` says how long and for whom); a supervisor may lift the holds from the
# verification desk, since a hold that nobody lifts could keep the recipient out until the
# 15-day window closes (CPCE R.53-3).


class LockKind(StrEnum):
    identity = "identity"  # the identity step (DESIGN §2 step 3)
    code = "code"  # the one-time code of the signing step (step 5)


class LetterLocked(Message):
    """Wrong answers started a hold on the item: for one client address (`address`) or for
    everyone (`item`). While a `code` hold lasts the desk sends no code for the letter."""

    exchange: ClassVar[str] = events_exchange(Service.pickup)
    routing_key: ClassVar[str] = "letter.locked.v1"

    item_number: str
    kind: LockKind
    scope: Literal["address", "item"]
    locked_at: UtcDatetime
    locked_until: UtcDatetime


class LiftLetterLock(Message):
    """A supervisor at the verification desk lifts the letter's holds of `kinds`; the desk
    keeps who asked and why in its audit trail."""

    exchange: ClassVar[str] = commands_exchange(Service.pickup)
    routing_key: ClassVar[str] = "lift_letter_lock.v1"

    item_number: str
    kinds: tuple[LockKind, ...] = Field(min_length=1)
    supervisor: str = Field(min_length=1, max_length=200, description="The desk token's subject.")
    reason: str = Field(min_length=1, max_length=1000)
    requested_at: UtcDatetime


class LetterLockLifted(Message):
    """A supervisor lifted the letter's holds of `kinds` (every address's and the item's):
    the next right answer works at once."""

    exchange: ClassVar[str] = events_exchange(Service.pickup)
    routing_key: ClassVar[str] = "letter.lock_lifted.v1"

    item_number: str
    kinds: tuple[LockKind, ...]
    supervisor: str = Field(description="The supervisor who lifted it (the desk token's subject).")
    reason: str
    lifted_at: UtcDatetime
    locked_until: UtcDatetime | None = Field(
        default=None, description="The latest hold that was in force, if any."
    )


# ------------------------------------------------------------------- signer (proofs)


class ProofKind(StrEnum):
    deposit = "deposit"  # preuve de dépôt
    receipt = "receipt"  # preuve de réception
    refusal = "refusal"  # preuve de refus
    non_claim = "non_claim"  # preuve de non-réclamation
    envelope = "envelope"  # pli_<number>.pdf: the letter and its evidence


class ProofIssued(Message):
    """The signer sealed a proof PDF (PAdES). The archive keeps the envelope with the letter's
    content for the download zip; senders keep every proof."""

    exchange: ClassVar[str] = events_exchange(Service.signer)
    routing_key: ClassVar[str] = "proof.issued.v1"

    item_number: str | None
    kind: ProofKind
    filename: str
    pdf: Base64Bytes
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ListEvidence(Message):
    """Request/reply: the evidence records of a letter (for senders' tooling and support)."""

    exchange: ClassVar[str] = commands_exchange(Service.signer)
    routing_key: ClassVar[str] = "list_evidence.v1"


class EvidenceEntry(Contract):
    evidence_id: UUID
    event: str
    event_time: UtcDatetime
    record_sha256: str
    previous_sha256: str | None
    reasons: tuple[str, ...] = ()
    channel: NoticeChannel | None = Field(
        default=None, description="For a notification: the channel it went by (or failed on)."
    )


class EvidenceListed(Reply):
    routing_key: ClassVar[str] = "evidence.listed.v1"

    records: tuple[EvidenceEntry, ...]


ALL_MESSAGES = (
    *ALL_MESSAGES,
    OpenVerificationCase,
    VerificationCaseOpened,
    AddIdentityDocument,
    IdentityDocumentAdded,
    VerificationDecided,
    RequestCode,
    CodeRequested,
    CheckCode,
    CodeChecked,
    ReceiptSigned,
    LetterUnclaimed,
    ProofIssued,
    ListEvidence,
    EvidenceListed,
    IssueZipLink,
    ZipLinkIssued,
)


# ------------------------------------------------------- archive (uploads and status)


class RequestUpload(Message):
    """Request/reply: a short-lived presigned PUT URL for one document a sender will deposit
    by reference (`SubmitLetter.main_upload_id`, `attachment_upload_ids`) instead of embedding
    it. `correlation_id` is the letter the sender means it for (informative)."""

    exchange: ClassVar[str] = commands_exchange(Service.archive)
    routing_key: ClassVar[str] = "request_upload.v1"

    sender_id: SafeText = Field(max_length=100)
    filename: FileName = Field(min_length=1, max_length=200, description="The document's file name.")
    size: int | None = Field(
        default=None, ge=0, description="Declared size; refused at once if over the limit."
    )
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="Declared SHA-256: the upload then goes straight to the letter's content, no copy"
        " (the deposit checks the bytes against it).",
    )


class UploadGranted(Reply):
    """Reply to `RequestUpload`: PUT the file's bytes to `url` before `expires_at`, then deposit
    referencing `upload_id`. `url` is empty, and `reason` says why, when none is granted."""

    routing_key: ClassVar[str] = "upload.granted.v1"

    upload_id: UUID | None = None
    url: str = ""
    expires_at: UtcDatetime | None = None
    max_bytes: int | None = Field(default=None, description="Largest document the archive takes.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Headers the PUT must carry, as given (they are signed): the object is written once.",
    )
    reason: str | None = None


class GetLetterStatus(Message):
    """Request/reply: where a sender's deposit stands. `correlation_id` is the letter id; with
    `idempotency_key` set, the letter deposited (or last refused) under that key instead."""

    exchange: ClassVar[str] = commands_exchange(Service.archive)
    routing_key: ClassVar[str] = "get_letter_status.v1"

    sender_id: SafeText = Field(max_length=100)
    idempotency_key: SafeText | None = Field(default=None, max_length=200)


# Where a deposited letter stands, furthest step first: what `LetterStatus.stage` says.
LetterStage = Literal[
    "deposited",  # taken by the archive, no notice sent yet
    "notified",  # the first notice left (NotificationForAcceptance)
    "accepted",  # the recipient accepted (ConsignmentAcceptance)
    "refused",  # the recipient refused (ConsignmentRejection)
    "unclaimed",  # non réclamée: no decision within the window (AcceptanceRejectionExpiry)
    "signed",  # the acknowledgement of receipt (avis de réception) is signed
    "downloaded",  # a document went out whole (ContentHandover)
    "expired",  # the download window passed without a download (ContentHandoverFailure)
]


class LetterStatus(Reply):
    """Reply to `GetLetterStatus`: `state` is unknown when the archive has no such deposit of
    this sender (not yet handled, or never sent). `state` says what became of the deposit;
    `stage` where the letter stands since, each step with its time."""

    routing_key: ClassVar[str] = "letter.status.v1"

    state: Literal["unknown", "deposited", "rejected"]
    letter_id: UUID | None = None
    item_number: str | None = None
    deposited_at: UtcDatetime | None = None
    rejected_at: UtcDatetime | None = None
    problems: tuple[Problem, ...] = ()
    accepted_at: UtcDatetime | None = None
    receipt_signed_at: UtcDatetime | None = None
    unclaimed_at: UtcDatetime | None = None
    handed_over_at: UtcDatetime | None = None
    content_deleted_at: UtcDatetime | None = None
    stage: LetterStage | None = Field(
        default=None, description="Where a deposited letter stands (None unless `state` is deposited)."
    )
    notified_at: UtcDatetime | None = Field(default=None, description="The first notice left.")
    refused_at: UtcDatetime | None = Field(default=None, description="The recipient refused the letter.")
    content_expires_at: UtcDatetime | None = Field(
        default=None, description="When the content goes, as far as the archive knows now."
    )


ALL_MESSAGES = (*ALL_MESSAGES, RequestUpload, UploadGranted, GetLetterStatus, LetterStatus)
ALL_MESSAGES = (*ALL_MESSAGES, LetterLocked, LiftLetterLock, LetterLockLifted)
ALL_MESSAGES = (*ALL_MESSAGES, SendCaseConfirmation, LetterLanguageChanged)
