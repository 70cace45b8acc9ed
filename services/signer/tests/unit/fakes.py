"""The signer's journal in memory: the repositories of `service_layer/ports.py` as lists and
dicts, with the same rules as the PostgreSQL ones (`adapters/postgres.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

from lre_shared.contracts import Message
from signer.domain.checkpoint import SETTLING_EVENTS, LetterCheckpoint, TreeHead
from signer.domain.evidence import UNSEALED, EvidenceEvent, SealAssurance
from signer.domain.proofs import EvidenceFact, ProofContent, ProofKind
from signer.domain.verification import Bundle
from signer.service_layer.ports import (
    ChainedRecord,
    ChainEnd,
    IssuedProof,
    ProofJob,
    ReceiptForm,
    RecordCopy,
    SealedRecord,
    StoredProof,
)

M = TypeVar("M", bound=Message)

ISSUED_AT = datetime(2026, 3, 2, 9, 31, tzinfo=UTC)  # every proof of the fakes: issued then


@dataclass
class InMemoryEvidenceChain:
    records: list[SealedRecord] = field(default_factory=list)
    archived: set[UUID] = field(default_factory=set)
    held: list[UUID] = field(default_factory=list)
    # Position in the log of each record taken in (RFC 6962 leaf index).
    log_index: dict[UUID, int] = field(default_factory=dict)

    def of(self, letter_id: UUID) -> list[SealedRecord]:
        return sorted((r for r in self.records if r.letter_id == letter_id), key=lambda r: r.seq)

    async def hold(self, letter_id: UUID) -> None:
        self.held.append(letter_id)

    async def end(self, letter_id: UUID) -> ChainEnd | None:
        chain = self.of(letter_id)
        return None if not chain else ChainEnd(chain[-1].seq, chain[-1].record_sha256)

    async def append(self, record: SealedRecord) -> None:
        if any(r.letter_id == record.letter_id and r.seq == record.seq for r in self.records):
            raise AssertionError(f"record {record.seq} of letter {record.letter_id} is there already")
        self.records.append(record)

    async def deposit(self, letter_id: UUID) -> bytes | None:
        deposits = [r for r in self.of(letter_id) if r.event is EvidenceEvent.submission_acceptance]
        return deposits[0].body if deposits else None

    async def chain(self, letter_id: UUID) -> list[ChainedRecord]:
        return [
            ChainedRecord(
                r.evidence_id,
                r.event,
                r.event_time,
                r.body,
                r.record_sha256,
                r.previous_sha256,
                r.seq,
                r.seal,
            )
            for r in self.of(letter_id)
        ]

    async def facts(self, letter_id: UUID) -> list[EvidenceFact]:
        return [
            EvidenceFact(r.event, r.event_time, str(r.evidence_id), r.record_sha256)
            for r in self.of(letter_id)
        ]

    async def unarchived(self, batch: int) -> list[RecordCopy]:
        waiting = [r for r in self.records if r.evidence_id not in self.archived][:batch]
        return [RecordCopy(r.evidence_id, r.letter_id, r.seq, r.body, r.seal) for r in waiting]

    async def mark_archived(self, evidence_ids: Sequence[UUID]) -> None:
        self.archived.update(evidence_ids)


@dataclass
class InMemoryCheckpoints:
    evidence: InMemoryEvidenceChain
    latest: dict[str, tuple[LetterCheckpoint, bytes | None]] = field(default_factory=dict)

    async def exists(self, letter_id: UUID) -> bool:
        return str(letter_id) in self.latest

    async def missing(self, batch: int) -> list[UUID]:
        settled = {r.letter_id for r in self.evidence.records if r.event in SETTLING_EVENTS}
        return sorted(letter for letter in settled if str(letter) not in self.latest)[:batch]

    async def keep(self, checkpoint: LetterCheckpoint, seal: bytes | None) -> None:
        kept = self.latest.get(checkpoint.letter_id)
        if kept is None or kept[0].size < checkpoint.size:
            self.latest[checkpoint.letter_id] = (checkpoint, seal)


@dataclass
class InMemoryEvidenceLog:
    evidence: InMemoryEvidenceChain
    heads: list[tuple[TreeHead, bytes | None]] = field(default_factory=list)
    busy: bool = False  # another replica holds the log

    async def hold(self) -> bool:
        return not self.busy

    async def take_in(self) -> int:
        new = [r for r in self.evidence.records if r.evidence_id not in self.evidence.log_index]
        for record in new:  # in the order they were recorded
            self.evidence.log_index[record.evidence_id] = len(self.evidence.log_index)
        return len(new)

    async def head_size(self) -> int:
        return max((head.tree_size for head, _ in self.heads), default=0)

    async def digests(self) -> list[str]:
        by_index = sorted(self.evidence.log_index.items(), key=lambda item: item[1])
        sha = {r.evidence_id: r.record_sha256 for r in self.evidence.records}
        return [sha[evidence_id] for evidence_id, _ in by_index]

    async def add_head(self, head: TreeHead, seal: bytes | None) -> None:
        self.heads.append((head, seal))


@dataclass
class InMemoryProofs:
    kept: dict[tuple[UUID, ProofKind], IssuedProof] = field(default_factory=dict)
    archived: set[tuple[UUID, ProofKind]] = field(default_factory=set)

    async def add(self, proof: IssuedProof) -> bool:
        if (proof.letter_id, proof.kind) in self.kept:
            return False
        self.kept[proof.letter_id, proof.kind] = proof
        return True

    async def replace(self, proof: IssuedProof) -> None:
        self.kept[proof.letter_id, proof.kind] = proof
        self.archived.discard((proof.letter_id, proof.kind))

    async def unarchived(self, batch: int) -> list[IssuedProof]:
        return [proof for key, proof in self.kept.items() if key not in self.archived][:batch]

    async def mark_archived(self, letter_id: UUID, kind: ProofKind) -> None:
        self.archived.add((letter_id, kind))

    async def listed(self, letter_id: UUID) -> list[StoredProof]:
        return [
            StoredProof(p.kind, p.filename, p.sha256, ISSUED_AT, len(p.pdf), key in self.archived)
            for key, p in self.kept.items()
            if key[0] == letter_id
        ]

    async def pdf(self, letter_id: UUID, kind: ProofKind) -> bytes | None:
        proof = self.kept.get((letter_id, kind))
        return None if proof is None else proof.pdf

    async def issued(self, letter_id: UUID, kind: ProofKind) -> bool:
        return (letter_id, kind) in self.kept

    async def bundle(self, letter_id: UUID) -> Bundle:
        """The proofs only: the records' part of a bundle is `adapters/bundle.py`'s, tested on
        PostgreSQL."""
        return Bundle(proofs={p.filename: p.pdf for key, p in self.kept.items() if key[0] == letter_id})


@dataclass
class InMemoryProofJobs:
    """Waiting jobs by letter and kind; a request for a waiting one replaces it, and each
    request gets a later `requested_at`, as `clock_timestamp()` gives."""

    waiting: dict[tuple[UUID, ProofKind], ProofJob] = field(default_factory=dict)
    leased: set[tuple[UUID, ProofKind]] = field(default_factory=set)
    requests: int = 0

    async def request(self, letter_id: UUID, kind: ProofKind, evidence_id: UUID) -> None:
        self.requests += 1
        self.waiting[letter_id, kind] = ProofJob(
            letter_id, kind, evidence_id, ISSUED_AT + timedelta(microseconds=self.requests), 0
        )

    async def claim(self, batch: int, *, lease_seconds: float) -> list[ProofJob]:
        free = sorted(
            (job for key, job in self.waiting.items() if key not in self.leased), key=lambda j: j.requested_at
        )[:batch]
        self.leased.update((job.letter_id, job.kind) for job in free)
        return [replace(job, attempts=job.attempts + 1) for job in free]

    async def done(self, job: ProofJob) -> bool:
        key = (job.letter_id, job.kind)
        self.leased.discard(key)
        if self.waiting.get(key) is not None and self.waiting[key].requested_at == job.requested_at:
            del self.waiting[key]
            return True
        return False


@dataclass
class InMemoryReceiptForms:
    forms: dict[UUID, ReceiptForm] = field(default_factory=dict)
    signed: dict[UUID, tuple[bytes, str | None]] = field(default_factory=dict)
    long_term: dict[UUID, bytes | None] = field(default_factory=dict)

    async def get(self, letter_id: UUID) -> ReceiptForm | None:
        return self.forms.get(letter_id)

    async def add(self, letter_id: UUID, form: ReceiptForm) -> None:
        self.forms.setdefault(letter_id, form)

    async def accept_signed(
        self, letter_id: UUID, signed_pdf: bytes, signer_name: str | None, *, long_term: bytes | None
    ) -> None:
        if letter_id in self.forms:
            self.signed.setdefault(letter_id, (signed_pdf, signer_name))
            self.long_term.setdefault(letter_id, long_term)


class InMemoryUnitOfWork:
    """One journal for the whole test: what each unit of work changed stays (committed)."""

    def __init__(self) -> None:
        self.evidence = InMemoryEvidenceChain()
        self.checkpoints = InMemoryCheckpoints(self.evidence)
        self.log = InMemoryEvidenceLog(self.evidence)
        self.proofs = InMemoryProofs()
        self.receipt_forms = InMemoryReceiptForms()
        self.proof_jobs = InMemoryProofJobs()
        self.published: list[Message] = []
        self.opened = 0

    async def publish(self, message: Message) -> None:
        self.published.append(message)

    def of_type(self, message_type: type[M]) -> list[M]:
        return [m for m in self.published if isinstance(m, message_type)]

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[InMemoryUnitOfWork]:
        """Units of work of their own (`UnitsOfWork`), all over this one journal."""
        self.opened += 1
        yield self


class CountingSealer:
    """Seals each statement with a marker that names it; counts the seals made."""

    def __init__(self, assurance: SealAssurance = UNSEALED) -> None:
        self._assurance = assurance
        self.sealed: list[bytes] = []

    @property
    def assurance(self) -> SealAssurance:
        return self._assurance

    async def seal(self, record: bytes) -> bytes | None:
        self.sealed.append(record)
        return b"seal of " + record if self._assurance.sealed else None


class TextProofSealer:
    """A proof's 'PDF' is its title and fields as text: enough to read what it says."""

    def __init__(self) -> None:
        self.made: list[ProofContent] = []

    async def seal_proof(self, content: ProofContent) -> bytes:
        self.made.append(content)
        return "\n".join([content.title, *(f"{k}: {v}" for k, v in content.fields)]).encode()
