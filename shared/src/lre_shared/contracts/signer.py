"""The signer's contracts: evidence records, sealed proofs and the acknowledgement of
receipt (AR) a recipient signs with a personal certificate."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from lre_shared.contracts.base import Base64Bytes, Contract, Message, NoticeChannel, Reply, UtcDatetime
from lre_shared.topology import Service, commands_exchange, events_exchange


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
    """Request/reply: the evidence records of a letter (for senders' tooling and support).
    Answered only when the publisher acts for the letter's sender (its own broker user, or a
    trusted platform user); otherwise, as for an unknown letter, with no records."""

    exchange: ClassVar[str] = commands_exchange(Service.signer)
    routing_key: ClassVar[str] = "list_evidence.v1"

    sender_id: str | None = Field(
        default=None,
        max_length=100,
        description="The sender asking: when given, only a letter deposited by this sender is listed.",
    )


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


# ---------------------------------------------------------------- proofs on demand
# CPCE R.53-3 IV: the provider keeps the proofs at the sender's disposal for at least a year.
# Queries of a sender system about its own letters only: the signer answers when the publisher
# acts for `sender_id` (its own broker user, or a trusted platform user such as the archive's)
# AND the letter was deposited by that sender; any other query gets the answer an unknown
# letter gets, so no one learns that a letter of another sender exists.


class ListProofs(Message):
    """Request/reply: the sealed proof PDFs of one of the sender's letters."""

    exchange: ClassVar[str] = commands_exchange(Service.signer)
    routing_key: ClassVar[str] = "list_proofs.v1"

    sender_id: str = Field(min_length=1, max_length=100, description="The sender asking.")


class ProofEntry(Contract):
    kind: ProofKind
    filename: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    issued_at: UtcDatetime
    size: int = Field(ge=0, description="Bytes of the PDF.")


class ProofsListed(Reply):
    """Reply to `ListProofs`: empty for a letter with no proof yet, an unknown letter, or a
    letter of another sender."""

    routing_key: ClassVar[str] = "proofs.listed.v1"

    proofs: tuple[ProofEntry, ...] = ()


BUNDLE = "bundle"  # `IssueProofLink.kind`: the evidence bundle `lre verify` checks, as a zip


class IssueProofLink(Message):
    """Request/reply: a short-lived download link to one proof PDF of the sender's letter, or to
    its evidence bundle (`kind` = "bundle": records, seals, checkpoint and proofs, as a zip)."""

    exchange: ClassVar[str] = commands_exchange(Service.signer)
    routing_key: ClassVar[str] = "issue_proof_link.v1"

    sender_id: str = Field(min_length=1, max_length=100, description="The sender asking.")
    kind: ProofKind | Literal["bundle"]


class ProofLinkIssued(Reply):
    """Reply to `IssueProofLink`: `url` is a presigned GET URL valid until `expires_at`; empty,
    with `reason`, when there is nothing to give (no such proof yet, unknown letter, or a letter
    of another sender: the same words for all three)."""

    routing_key: ClassVar[str] = "proof_link.issued.v1"

    url: str = ""
    filename: str | None = None
    sha256: str | None = Field(default=None, description="SHA-256 of the file behind the link.")
    size: int | None = None
    expires_at: UtcDatetime | None = None
    reason: str | None = None
