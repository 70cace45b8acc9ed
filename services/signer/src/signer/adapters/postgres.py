"""The signer's journal in PostgreSQL: the repositories of `service_layer/ports.py`, all in
one unit of work over one transaction and its outbox.

The bus opens the transaction of a message's handler (`unit_of_work(tx)`); the background
tasks (evidence archiver, tree-head signer) open their own (`Transactions`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TypeVar
from uuid import UUID

import asyncpg

from lre_shared import units
from lre_shared.units import PgRepository, columns, fetch_all, fetch_one, insert
from signer.adapters.bundle import load_bundle
from signer.domain.checkpoint import SETTLING_EVENTS, LetterCheckpoint, TreeHead
from signer.domain.evidence import EvidenceEvent
from signer.domain.proofs import EvidenceFact, ProofKind
from signer.domain.receipt import Recipient
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

# One signer replica at a time takes records into the log and signs its head.
LOG_LOCK = "lre-signer:evidence-log"

T = TypeVar("T")


def _with_kind(read: Callable[..., T]) -> Callable[..., T]:
    """`read` of a row whose `kind` column holds a proof kind's value."""
    return lambda kind, **row: read(kind=ProofKind(kind), **row)


class PgEvidenceChain(PgRepository):
    async def hold(self, letter_id: UUID) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", str(letter_id))

    async def end(self, letter_id: UUID) -> ChainEnd | None:
        return await fetch_one(
            self.conn,
            ChainEnd,
            "SELECT seq, record_sha256 FROM evidence WHERE letter_id = $1 ORDER BY seq DESC LIMIT 1",
            letter_id,
        )

    async def append(self, record: SealedRecord) -> None:
        await self.conn.execute(
            "INSERT INTO evidence (evidence_id, letter_id, seq, event, event_time, source_message_id,"
            " record, record_sha256, previous_sha256, seal, seal_label)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            record.evidence_id,
            record.letter_id,
            record.seq,
            record.event.value,
            record.event_time,
            record.source_message_id,
            record.body,
            record.record_sha256,
            record.previous_sha256,
            record.seal,
            record.seal_label,
        )

    async def deposit(self, letter_id: UUID) -> bytes | None:
        deposit = await self.conn.fetchval(
            "SELECT record FROM evidence WHERE letter_id = $1 AND event = $2 ORDER BY seq LIMIT 1",
            letter_id,
            EvidenceEvent.submission_acceptance.value,
        )
        return None if deposit is None else bytes(deposit)

    async def chain(self, letter_id: UUID) -> list[ChainedRecord]:
        return await fetch_all(
            self.conn,
            lambda event, **row: ChainedRecord(event=EvidenceEvent(event), **row),
            "SELECT evidence_id, event, event_time, record AS body, record_sha256, previous_sha256, seq, seal"
            " FROM evidence WHERE letter_id = $1 ORDER BY seq",
            letter_id,
        )

    async def facts(self, letter_id: UUID) -> list[EvidenceFact]:
        return await fetch_all(
            self.conn,
            lambda event, evidence_id, **row: EvidenceFact(
                event=EvidenceEvent(event), evidence_id=str(evidence_id), **row
            ),
            "SELECT event, event_time, evidence_id, record_sha256 FROM evidence WHERE letter_id = $1"
            " ORDER BY seq",
            letter_id,
        )

    async def unarchived(self, batch: int) -> list[RecordCopy]:
        return await fetch_all(
            self.conn,
            RecordCopy,
            "SELECT evidence_id, letter_id, seq, record AS body, seal FROM evidence WHERE archived_at IS NULL"
            " ORDER BY recorded_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            batch,
        )

    async def mark_archived(self, evidence_ids: Sequence[UUID]) -> None:
        await self.conn.execute(
            "UPDATE evidence SET archived_at = now() WHERE evidence_id = ANY($1::uuid[])", list(evidence_ids)
        )


class PgCheckpoints(PgRepository):
    async def exists(self, letter_id: UUID) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM letter_checkpoints WHERE letter_id = $1)", letter_id
            )
        )

    async def missing(self, batch: int) -> list[UUID]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT letter_id FROM evidence e WHERE event = ANY($1::text[]) AND NOT EXISTS"
            " (SELECT 1 FROM letter_checkpoints c WHERE c.letter_id = e.letter_id)"
            " ORDER BY letter_id LIMIT $2",
            sorted(event.value for event in SETTLING_EVENTS),
            batch,
        )
        return [row["letter_id"] for row in rows]

    async def keep(self, checkpoint: LetterCheckpoint, seal: bytes | None) -> None:
        await insert(
            self.conn,
            "letter_checkpoints",
            {
                **columns(checkpoint),
                "letter_id": UUID(checkpoint.letter_id),
                "statement": checkpoint.statement(),
                "seal": seal,
            },
            "ON CONFLICT (letter_id) DO UPDATE SET size = EXCLUDED.size,"
            " last_sha256 = EXCLUDED.last_sha256, statement = EXCLUDED.statement, seal = EXCLUDED.seal,"
            " created_at = now() WHERE letter_checkpoints.size < EXCLUDED.size",
        )


class PgEvidenceLog(PgRepository):
    async def hold(self) -> bool:
        return bool(
            await self.conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", LOG_LOCK)
        )

    async def take_in(self) -> int:
        status = await self.conn.execute(
            "WITH next AS (SELECT evidence_id, row_number() OVER (ORDER BY recorded_at, evidence_id) AS n"
            " FROM evidence WHERE log_index IS NULL),"
            " base AS (SELECT coalesce(max(log_index), -1) AS last FROM evidence)"
            " UPDATE evidence SET log_index = base.last + next.n FROM next, base"
            " WHERE evidence.evidence_id = next.evidence_id"
        )
        return int(status.rsplit(" ", 1)[-1])

    async def head_size(self) -> int:
        return int(await self.conn.fetchval("SELECT coalesce(max(tree_size), 0) FROM log_tree_heads"))

    async def digests(self) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT record_sha256 FROM evidence WHERE log_index IS NOT NULL ORDER BY log_index"
        )
        return [row["record_sha256"] for row in rows]

    async def add_head(self, head: TreeHead, seal: bytes | None) -> None:
        await self.conn.execute(
            "INSERT INTO log_tree_heads (tree_size, root_sha256, statement, seal) VALUES ($1, $2, $3, $4)",
            head.tree_size,
            head.root.hex(),
            head.statement(),
            seal,
        )


# What becomes of the letter's stored proof of the same kind: it stays, or is replaced.
KEEP_PROOF = "ON CONFLICT (letter_id, kind) DO NOTHING"
REPLACE_PROOF = (
    "ON CONFLICT (letter_id, kind) DO UPDATE SET evidence_id = EXCLUDED.evidence_id,"
    " filename = EXCLUDED.filename, pdf = EXCLUDED.pdf, sha256 = EXCLUDED.sha256, created_at = now(),"
    " archived_at = NULL"
)


class PgProofs(PgRepository):
    async def _store(self, proof: IssuedProof, on_conflict: str) -> str:
        return await insert(self.conn, "proofs", {**columns(proof), "kind": proof.kind.value}, on_conflict)

    async def add(self, proof: IssuedProof) -> bool:
        return not (await self._store(proof, KEEP_PROOF)).endswith(" 0")

    async def replace(self, proof: IssuedProof) -> None:
        await self._store(proof, REPLACE_PROOF)

    async def unarchived(self, batch: int) -> list[IssuedProof]:
        return await fetch_all(
            self.conn,
            _with_kind(IssuedProof),
            "SELECT letter_id, kind, evidence_id, filename, pdf, sha256 FROM proofs WHERE archived_at IS NULL"
            " ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            batch,
        )

    async def mark_archived(self, letter_id: UUID, kind: ProofKind) -> None:
        await self.conn.execute(
            "UPDATE proofs SET archived_at = now() WHERE letter_id = $1 AND kind = $2", letter_id, kind.value
        )

    async def listed(self, letter_id: UUID) -> list[StoredProof]:
        return await fetch_all(
            self.conn,
            _with_kind(StoredProof),
            "SELECT kind, filename, sha256, created_at AS issued_at, octet_length(pdf) AS size,"
            " archived_at IS NOT NULL AS archived FROM proofs WHERE letter_id = $1 ORDER BY created_at, kind",
            letter_id,
        )

    async def pdf(self, letter_id: UUID, kind: ProofKind) -> bytes | None:
        pdf = await self.conn.fetchval(
            "SELECT pdf FROM proofs WHERE letter_id = $1 AND kind = $2", letter_id, kind.value
        )
        return None if pdf is None else bytes(pdf)

    async def issued(self, letter_id: UUID, kind: ProofKind) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM proofs WHERE letter_id = $1 AND kind = $2)",
                letter_id,
                kind.value,
            )
        )

    async def bundle(self, letter_id: UUID) -> Bundle:
        return await load_bundle(self.conn, letter_id)


# Issuers listen here: a request is announced when its transaction commits.
PROOF_JOBS_CHANNEL = "lre_signer_proof_jobs"


class PgProofJobs(PgRepository):
    async def request(self, letter_id: UUID, kind: ProofKind, evidence_id: UUID) -> None:
        await self.conn.execute(
            "INSERT INTO proof_jobs (letter_id, kind, evidence_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (letter_id, kind) DO UPDATE SET evidence_id = EXCLUDED.evidence_id,"
            " requested_at = EXCLUDED.requested_at, attempts = 0",
            letter_id,
            kind.value,
            evidence_id,
        )
        await self.conn.execute(f"NOTIFY {PROOF_JOBS_CHANNEL}")

    async def claim(self, batch: int, *, lease_seconds: float) -> list[ProofJob]:
        jobs = await fetch_all(
            self.conn,
            _with_kind(ProofJob),
            "UPDATE proof_jobs j SET leased_until = now() + make_interval(secs => $2),"
            " attempts = attempts + 1 FROM (SELECT letter_id, kind FROM proof_jobs"
            " WHERE leased_until IS NULL OR leased_until < now()"
            " ORDER BY requested_at LIMIT $1 FOR UPDATE SKIP LOCKED) due"
            " WHERE j.letter_id = due.letter_id AND j.kind = due.kind"
            " RETURNING j.letter_id, j.kind, j.evidence_id, j.requested_at, j.attempts",
            batch,
            lease_seconds,
        )
        return sorted(jobs, key=lambda job: job.requested_at)

    async def done(self, job: ProofJob) -> bool:
        status = await self.conn.execute(
            "DELETE FROM proof_jobs WHERE letter_id = $1 AND kind = $2 AND requested_at = $3",
            job.letter_id,
            job.kind.value,
            job.requested_at,
        )
        if not status.endswith(" 0"):
            return True
        await self.conn.execute(
            "UPDATE proof_jobs SET leased_until = NULL WHERE letter_id = $1 AND kind = $2",
            job.letter_id,
            job.kind.value,
        )
        return False


class PgReceiptForms(PgRepository):
    async def get(self, letter_id: UUID) -> ReceiptForm | None:
        return await fetch_one(
            self.conn,
            lambda recipient, **row: ReceiptForm(recipient=Recipient(**json.loads(recipient)), **row),
            "SELECT filename, pdf, sha256, recipient FROM receipt_forms WHERE letter_id = $1",
            letter_id,
        )

    async def add(self, letter_id: UUID, form: ReceiptForm) -> None:
        await insert(
            self.conn,
            "receipt_forms",
            {"letter_id": letter_id, **columns(form), "recipient": json.dumps(asdict(form.recipient))},
            "ON CONFLICT (letter_id) DO NOTHING",
        )

    async def accept_signed(
        self, letter_id: UUID, signed_pdf: bytes, signer_name: str | None, *, long_term: bytes | None
    ) -> None:
        await self.conn.execute(
            "UPDATE receipt_forms SET signed_pdf = $2, signed_by = $3, signed_accepted_at = now(),"
            " signed_pdf_lt = $4 WHERE letter_id = $1 AND signed_pdf IS NULL",
            letter_id,
            signed_pdf,
            signer_name,
            long_term,
        )


class PgUnitOfWork(units.PgUnitOfWork):
    """The repositories over the transaction `tx`, and its outbox."""

    evidence: PgEvidenceChain
    checkpoints: PgCheckpoints
    log: PgEvidenceLog
    proofs: PgProofs
    receipt_forms: PgReceiptForms
    proof_jobs: PgProofJobs


# The unit of work over the bus's transaction of a message.
unit_of_work = PgUnitOfWork


class Transactions(units.Transactions[PgUnitOfWork]):
    """Units of work of their own, each on a connection of the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(PgUnitOfWork, lambda: pool)
