"""The archive's contracts: deposits (what sender systems send it, and how it answers),
uploads, download links and the state of a letter."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field, model_validator

from lre_shared.contracts.base import (
    Contract,
    Document,
    ItemNumber,
    Message,
    NoticeChannel,
    Recipient,
    Reply,
    Sender,
    SignatureMethod,
    StoredDocument,
    SubmittedRecipient,
    SubmittedSender,
    UtcDatetime,
)
from lre_shared.text import FileName, SafeText
from lre_shared.topology import Service, commands_exchange, events_exchange


class ArchiveEvent(Message):
    """What the archive publishes: what became of a deposit, of its content, of a consent."""

    exchange: ClassVar[str] = events_exchange(Service.archive)


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


class LetterDeposited(ArchiveEvent):
    """The archive accepted a deposit, stored its content and assigned an item number."""

    routing_key: ClassVar[str] = "letter.deposited.v1"

    item_number: ItemNumber = Field(description="Numéro de pli.")
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


class LetterRejected(ArchiveEvent):
    """The archive refused a deposit; every problem is listed by field."""

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


class ContentHandedOver(ArchiveEvent):
    """The recipient took the content: the first download link of an accepted letter was
    issued (ETSI EN 319 522: ContentHandover)."""

    routing_key: ClassVar[str] = "content.handed_over.v1"

    item_number: str
    document_id: UUID = Field(description="The document of the first download.")
    handed_over_at: UtcDatetime


class ContentHandoverFailed(ArchiveEvent):
    """The download window of an accepted letter passed with no download; its content is
    deleted (ETSI EN 319 522: ContentHandoverFailure)."""

    routing_key: ClassVar[str] = "content.handover_failed.v1"

    item_number: str
    window_closed_at: UtcDatetime = Field(description="End of the download window.")


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


# ---------------------------------------------------------------- consent (CPCE L.100)

# How the recipient told the sender they agree (or no longer agree) to electronic registered
# letters: a form on the sender's site, an email, a signed paper, a clause of a contract, in person.
ConsentChannel = Literal["web_form", "email", "paper", "contract", "in_person"]


class RecordConsent(Message):
    """Request/reply: a sender system records that a recipient agreed to receive its electronic
    registered letters (CPCE L.100: a letter to a recipient who is not a professional is
    taken only with that consent). Only the sender itself may record for itself.

    Read leniently, like `SubmitLetter`: every problem is answered by `ConsentAnswer`, by field.
    `correlation_id` is any id of the sender's, echoed in the answer. A consent recorded while
    another is current supersedes it (the text agreed to last is the one that holds)."""

    exchange: ClassVar[str] = commands_exchange(Service.archive)
    routing_key: ClassVar[str] = "record_consent.v1"

    sender_id: str = Field(description="The sender system the recipient agreed to receive letters from.")
    email: str = Field(description="The recipient's email address, as letters will name it.")
    given_at: datetime = Field(description="When the recipient agreed (with a time zone).")
    channel: str = Field(description="How: web_form, email, paper, contract or in_person.")
    text: str = Field(description="The exact text the recipient agreed to (kept, with its SHA-256).")
    reference: str | None = Field(default=None, description="The sender's own record of it, if any.")


class WithdrawConsent(Message):
    """Request/reply: the recipient withdrew their consent; letters deposited from now on are
    refused (those already deposited stand). Answered by `ConsentAnswer`."""

    exchange: ClassVar[str] = commands_exchange(Service.archive)
    routing_key: ClassVar[str] = "withdraw_consent.v1"

    sender_id: str
    email: str
    withdrawn_at: datetime = Field(description="When the recipient withdrew it (with a time zone).")
    channel: str = Field(description="How: web_form, email, paper, contract or in_person.")


class ConsentAnswer(Reply):
    """Reply to `RecordConsent` and `WithdrawConsent`: `recorded`, or every problem by field."""

    routing_key: ClassVar[str] = "consent.answer.v1"

    recorded: bool
    problems: tuple[Problem, ...] = ()
    consent_id: UUID | None = None
    subject_id: UUID | None = Field(
        default=None,
        description="The consent's evidence chain (one per sender and address): list_evidence with it.",
    )
    text_sha256: str | None = None


class ConsentRecorded(ArchiveEvent):
    """The archive recorded a recipient's consent (CPCE L.100); the signer seals it as evidence.
    `correlation_id` is the consent's subject (one per sender and normalised address), whose
    evidence chain holds its whole history."""

    routing_key: ClassVar[str] = "consent.recorded.v1"

    correlation_id: UUID = Field(
        description="The consent's subject: one per sender and normalised address (its evidence chain)."
    )
    consent_id: UUID
    sender_id: str
    email: str = Field(description="The address as the sender gave it.")
    email_key: str = Field(description="The address the registry matches: NFKC, case-folded.")
    given_at: UtcDatetime
    channel: ConsentChannel
    text: str
    text_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    reference: str | None = None
    recorded_at: UtcDatetime


class ConsentWithdrawn(ArchiveEvent):
    """The archive recorded the withdrawal of a consent; the signer seals it as evidence."""

    routing_key: ClassVar[str] = "consent.withdrawn.v1"

    correlation_id: UUID = Field(
        description="The consent's subject: one per sender and normalised address (its evidence chain)."
    )
    consent_id: UUID
    sender_id: str
    email_key: str
    withdrawn_at: UtcDatetime
    channel: ConsentChannel
    recorded_at: UtcDatetime
