"""Copy each committed evidence record and its seal, and each proof PDF, to the evidence
bucket.

After the commit, not inside it: the journal (PostgreSQL) is the source of truth for the
chain, and an object-locked copy can never be taken back, so only committed records go.
Rows are claimed with SKIP LOCKED so replicas share the work; a failed upload is retried
on the next pass (a second upload of the same key only adds an identical version).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import asyncpg

from signer.adapters.evidence_store import EvidenceStore

log = logging.getLogger(__name__)


def record_key(letter_id: object, seq: int) -> str:
    """Same layout as an evidence bundle, one folder per letter."""
    return f"letters/{letter_id}/records/{seq:04d}"


def proof_key(letter_id: object, filename: str) -> str:
    return f"letters/{letter_id}/proofs/{filename}"


async def archive_pending(
    pool: asyncpg.Pool, store: EvidenceStore, *, retention: timedelta, batch: int = 100
) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT evidence_id, letter_id, seq, record, seal FROM evidence WHERE archived_at IS NULL"
            " ORDER BY recorded_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            batch,
        )
        retain_until = (datetime.now(UTC) + retention).replace(microsecond=0)
        for row in rows:
            key = record_key(row["letter_id"], row["seq"])
            await store.put(
                key + ".json",
                bytes(row["record"]),
                content_type="application/json",
                retain_until=retain_until,
            )
            if row["seal"] is not None:
                await store.put(
                    key + ".seal.json",
                    bytes(row["seal"]),
                    content_type="application/json",
                    retain_until=retain_until,
                )
        if rows:
            await conn.execute(
                "UPDATE evidence SET archived_at = now() WHERE evidence_id = ANY($1::uuid[])",
                [row["evidence_id"] for row in rows],
            )
        proofs = await conn.fetch(
            "SELECT letter_id, kind, filename, pdf FROM proofs WHERE archived_at IS NULL"
            " ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            batch,
        )
        for proof in proofs:
            await store.put(
                proof_key(proof["letter_id"], proof["filename"]),
                bytes(proof["pdf"]),
                content_type="application/pdf",
                retain_until=retain_until,
            )
            await conn.execute(
                "UPDATE proofs SET archived_at = now() WHERE letter_id = $1 AND kind = $2",
                proof["letter_id"],
                proof["kind"],
            )
    return len(rows) + len(proofs)
