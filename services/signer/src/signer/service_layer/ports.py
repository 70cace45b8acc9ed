"""What the signer's use cases need from the outside world: the sealers, and the journal
(PostgreSQL, `adapters/postgres.py`) as repositories in one unit of work.

The journal is the source of truth for every letter's evidence chain: the evidence bucket
only ever receives copies of what it committed (`service_layer/archiving.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from lre_shared import units
from signer.domain.archived import ArchivedCopy
from signer.domain.checkpoint import LetterCheckpoint, TreeHead
from signer.domain.evidence import EvidenceEvent, SealAssurance
from signer.domain.proofs import EvidenceFact, ProofContent, ProofKind
from signer.domain.receipt import Recipient, Verdict
from signer.domain.verification import Bundle, Report, StoredRecord


class EvidenceSealer(Protocol):
    """Seals evidence records with the provider's key and an RFC 3161 timestamp."""

    @property
    def assurance(self) -> SealAssurance:
        """What this sealer's seals are worth; written into each record before sealing."""
        ...

    async def seal(self, record: bytes) -> bytes | None:
        """The record's seal (a `RecordSeal`: its batch's CAdES-T seal and its inclusion
        proof); None when unsealed."""
        ...


class ProofSealer(Protocol):
    """Renders a proof PDF and seals it PAdES (B-LT, or B-LTA) with the provider's key."""

    async def seal_proof(self, content: ProofContent) -> bytes: ...


# Renders the AR to sign, with an empty signature field for the recipient (`adapters/pdf.py`).
RenderReceiptForm = Callable[[ProofContent], bytes]


class SignedReceiptChecker(Protocol):
    """Judges a signed AR against the one issued (`adapters/receipt_check.py`)."""

    async def check(
        self, signed: bytes, issued: bytes, recipient: Recipient, received_at: datetime
    ) -> Verdict: ...


class SealVerifier(Protocol):
    """Checks a record's seal and timestamp, offline (`adapters/seal_check.py`)."""

    async def __call__(self, record: StoredRecord, seal: bytes | None, *, claims_sealed: bool) -> Report: ...


class ProofVerifier(Protocol):
    """Checks a proof PDF's PAdES seal, offline (`adapters/seal_check.py`)."""

    async def __call__(self, name: str, pdf: bytes) -> Report: ...


# The files a proof PDF carries, name → bytes, as its seal covers them (`adapters/seal_check.py`).
ProofAttachments = Callable[[bytes], Mapping[str, bytes]]


class EvidenceStore(Protocol):
    """The evidence bucket, under compliance-mode object lock (`adapters/evidence_store.py`)."""

    async def ensure_bucket(self) -> None: ...
    async def put(self, key: str, content: bytes, *, content_type: str, retain_until: datetime) -> None: ...


class ArchivedEvidence(Protocol):
    """Reading the bucket back, for `lre verify --evidence-bucket`."""

    async def archived(self, key: str) -> ArchivedCopy | None: ...


@dataclass(frozen=True)
class ChainEnd:
    """The last record of a letter's chain: the next one follows it."""

    seq: int
    record_sha256: str


@dataclass(frozen=True)
class SealedRecord:
    """A record as the journal keeps it: its canonical bytes, its place in the letter's chain,
    its seal, and the message it records."""

    evidence_id: UUID
    letter_id: UUID
    seq: int
    event: EvidenceEvent
    event_time: datetime
    source_message_id: UUID
    body: bytes
    record_sha256: str
    previous_sha256: str | None
    seal: bytes | None
    seal_label: str


@dataclass(frozen=True)
class ChainedRecord:
    """A record read back in chain order, with its seal."""

    evidence_id: UUID
    event: EvidenceEvent
    event_time: datetime
    body: bytes
    record_sha256: str
    previous_sha256: str | None
    seq: int
    seal: bytes | None


@dataclass(frozen=True)
class RecordCopy:
    """What goes to the evidence bucket for one record: its bytes and its seal."""

    evidence_id: UUID
    letter_id: UUID
    seq: int
    body: bytes
    seal: bytes | None


@dataclass(frozen=True)
class IssuedProof:
    """A sealed proof PDF of a letter: one per kind (the envelope replaced as it grows)."""

    letter_id: UUID
    kind: ProofKind
    evidence_id: UUID
    filename: str
    pdf: bytes
    sha256: str


@dataclass(frozen=True)
class ReceiptForm:
    """The AR as issued for a letter, byte for byte, and the recipient it names."""

    filename: str
    pdf: bytes
    sha256: str
    recipient: Recipient


class EvidenceChain(Protocol):
    """Every letter's chain of evidence records."""

    async def hold(self, letter_id: UUID) -> None:
        """Serialise the letter's writers until the transaction ends: one chain, one writer."""
        ...

    async def end(self, letter_id: UUID) -> ChainEnd | None:
        """The letter's last record; None before its first."""
        ...

    async def append(self, record: SealedRecord) -> None: ...

    async def deposit(self, letter_id: UUID) -> bytes | None:
        """The letter's SubmissionAcceptance record: what every proof repeats."""
        ...

    async def chain(self, letter_id: UUID) -> list[ChainedRecord]:
        """The letter's records in chain order."""
        ...

    async def facts(self, letter_id: UUID) -> list[EvidenceFact]:
        """What each of the letter's records attests, in chain order (bodies and seals unread)."""
        ...

    async def unarchived(self, batch: int) -> list[RecordCopy]:
        """The oldest records not yet in the evidence bucket, claimed for this transaction
        (another replica takes the next ones)."""
        ...

    async def mark_archived(self, evidence_ids: Sequence[UUID]) -> None: ...


class Checkpoints(Protocol):
    """Each settled letter's latest sealed checkpoint (`domain/checkpoint.py`)."""

    async def exists(self, letter_id: UUID) -> bool: ...

    async def missing(self, batch: int) -> list[UUID]:
        """Letters whose fate is settled but that have no checkpoint: settled before the
        signer sealed checkpoints (`service_layer/checkpoints.py`); at most `batch`."""
        ...

    async def keep(self, checkpoint: LetterCheckpoint, seal: bytes | None) -> None:
        """Store it in place of the letter's last one, unless that one covers more records."""
        ...


class EvidenceLog(Protocol):
    """The log of every record in the order it took them in, and its signed tree heads."""

    async def hold(self) -> bool:
        """Whether this transaction may extend the log (one replica at a time); False while
        another one does."""
        ...

    async def take_in(self) -> int:
        """Give the records committed since the last head their positions in the log; how many."""
        ...

    async def head_size(self) -> int:
        """How many records the last signed head covers; 0 before the first."""
        ...

    async def digests(self) -> list[str]:
        """Every logged record's SHA-256, in log order."""
        ...

    async def add_head(self, head: TreeHead, seal: bytes | None) -> None: ...


class Proofs(Protocol):
    """The letters' sealed proof PDFs."""

    async def add(self, proof: IssuedProof) -> bool:
        """Keep it; False (and nothing kept) when the letter already has this kind of proof."""
        ...

    async def replace(self, proof: IssuedProof) -> None:
        """Keep it in place of the letter's proof of this kind (to the evidence bucket again)."""
        ...

    async def unarchived(self, batch: int) -> list[IssuedProof]:
        """The oldest proofs not yet in the evidence bucket, claimed for this transaction."""
        ...

    async def mark_archived(self, letter_id: UUID, kind: ProofKind) -> None: ...

    async def listed(self, letter_id: UUID) -> list[StoredProof]:
        """The letter's proofs, in the order they were issued."""
        ...

    async def pdf(self, letter_id: UUID, kind: ProofKind) -> bytes | None: ...

    async def issued(self, letter_id: UUID, kind: ProofKind) -> bool:
        """Whether the letter has a stored proof of `kind` (its PDF left unread)."""

    async def bundle(self, letter_id: UUID) -> Bundle:
        """The letter's evidence bundle (records, seals, checkpoint, proofs) as `lre verify`
        reads it."""
        ...


@dataclass(frozen=True)
class ProofJob:
    """A proof to issue, as the issuer took it: `requested_at` tells whether it was asked for
    again while it was being made (the envelope of a growing chain)."""

    letter_id: UUID
    kind: ProofKind
    evidence_id: UUID
    requested_at: datetime
    attempts: int


class ProofJobs(Protocol):
    """The proofs still to issue (`service_layer/proof_issuing.py`)."""

    async def request(self, letter_id: UUID, kind: ProofKind, evidence_id: UUID) -> None:
        """Ask for the letter's proof of `kind`, attesting `evidence_id`, once this transaction
        commits; a request for a proof already waiting replaces it."""
        ...

    async def claim(self, batch: int, *, lease_seconds: float) -> list[ProofJob]:
        """The oldest free jobs, at most `batch`, taken for `lease_seconds` (another replica
        takes the next ones; a job whose issuer died is free again when its lease ends)."""
        ...

    async def done(self, job: ProofJob) -> bool:
        """Drop the job, unless it was asked for again since it was taken (then free it for the
        next pass); whether it was dropped."""
        ...


@dataclass(frozen=True)
class StoredProof:
    """A proof as the journal lists it for its sender (CPCE R.53-3 IV: at their disposal)."""

    kind: ProofKind
    filename: str
    sha256: str
    issued_at: datetime
    size: int
    archived: bool  # its current bytes are in the evidence bucket


@dataclass(frozen=True)
class Link:
    """A presigned GET URL and when it stops working."""

    url: str
    expires_at: datetime


class ProofLinks(Protocol):
    """Short-lived download links to proofs and bundles (`adapters/proof_links.py`)."""

    async def archived(self, key: str) -> Link:
        """A link to an object of the evidence bucket."""
        ...

    async def export(self, name: str, content: bytes, *, content_type: str) -> Link:
        """Store `content` where exports expire (never under object lock) and link to it."""
        ...

    def pack(self, bundle: Bundle) -> bytes:
        """The bundle as the zip `lre verify` reads."""
        ...


class ReceiptForms(Protocol):
    """The ARs issued for the personal-certificate path, and the signed ones accepted."""

    async def get(self, letter_id: UUID) -> ReceiptForm | None: ...

    async def add(self, letter_id: UUID, form: ReceiptForm) -> None:
        """Keep it, unless the letter has one already (issued by another replica meanwhile)."""
        ...

    async def accept_signed(
        self, letter_id: UUID, signed_pdf: bytes, signer_name: str | None, *, long_term: bytes | None
    ) -> None:
        """Keep the first signed AR accepted for the letter, as uploaded and with the validation
        data its check used (`long_term`, PAdES B-LT)."""
        ...


class UnitOfWork(units.UnitOfWork, Protocol):
    """One transaction of the journal: what it changes, and the messages it publishes on
    commit (outbox)."""

    @property
    def evidence(self) -> EvidenceChain: ...
    @property
    def checkpoints(self) -> Checkpoints: ...
    @property
    def log(self) -> EvidenceLog: ...
    @property
    def proofs(self) -> Proofs: ...
    @property
    def receipt_forms(self) -> ReceiptForms: ...
    @property
    def proof_jobs(self) -> ProofJobs: ...


# Units of work of their own: the background tasks.
UnitsOfWork = units.UnitsOfWork[UnitOfWork]
