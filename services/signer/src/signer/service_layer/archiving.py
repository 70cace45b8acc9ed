"""Copy each committed evidence record and its seal, and each proof PDF, to the evidence
bucket.

After the commit, not inside it: the journal (PostgreSQL) is the source of truth for the
chain, and an object-locked copy can never be taken back, so only committed records go.
Rows are claimed with SKIP LOCKED so replicas share the work; a failed upload is retried
on the next pass (a second upload of the same key only adds an identical version).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from lre_shared.clock import Clock, now_utc
from signer.domain.archived import check_archived_copy
from signer.domain.verification import Bundle, Report
from signer.service_layer.ports import ArchivedEvidence, EvidenceStore, UnitsOfWork

log = logging.getLogger(__name__)


def record_key(letter_id: object, seq: int) -> str:
    """Same layout as an evidence bundle, one folder per letter."""
    return f"letters/{letter_id}/records/{seq:04d}"


def proof_key(letter_id: object, filename: str) -> str:
    return f"letters/{letter_id}/proofs/{filename}"


async def archive_pending(
    transactions: UnitsOfWork,
    store: EvidenceStore,
    *,
    retention: timedelta,
    batch: int = 100,
    clock: Clock = now_utc,
) -> int:
    """Copy the next committed records (and their seals) and proofs to the evidence bucket;
    how many were copied (0: none was waiting)."""
    async with transactions() as uow:
        records = await uow.evidence.unarchived(batch)
        # S3 keeps retention dates to the second: round up, never keep a record a moment short.
        retain_until = (clock() + retention + timedelta(seconds=1)).replace(microsecond=0)
        for record in records:
            key = record_key(record.letter_id, record.seq)
            for suffix, content in ((".json", record.body), (".seal.json", record.seal)):
                if content is not None:  # an unsealed record has no seal to copy
                    await store.put(
                        key + suffix, content, content_type="application/json", retain_until=retain_until
                    )
        if records:
            await uow.evidence.mark_archived([record.evidence_id for record in records])
        proofs = await uow.proofs.unarchived(batch)
        for proof in proofs:
            await store.put(
                proof_key(proof.letter_id, proof.filename),
                proof.pdf,
                content_type="application/pdf",
                retain_until=retain_until,
            )
            await uow.proofs.mark_archived(proof.letter_id, proof.kind)
    return len(records) + len(proofs)


async def check_bundle_archived(bundle: Bundle, bucket: ArchivedEvidence, *, retention: timedelta) -> Report:
    """Each record of the bundle, and its seal, is in the evidence bucket byte for byte, under
    compliance-mode object lock until at least its event time plus `retention`."""
    report = Report()
    for record in bundle.records:
        try:
            fields = json.loads(record.body)
            key = record_key(UUID(fields["letter_id"]), int(fields["seq"]))
            event_time = datetime.fromisoformat(fields["event_time"])
            if event_time.tzinfo is None:
                event_time = event_time.replace(tzinfo=UTC)
        except (ValueError, KeyError, TypeError):
            report.fail(record.name, "not found in the evidence bucket: no letter id, position or event time")
            continue
        report.extend(
            check_archived_copy(
                record.name,
                key + ".json",
                record.body,
                await bucket.archived(key + ".json"),
                event_time=event_time,
                retention=retention,
            )
        )
        if (seal := bundle.seals.get(record.name)) is not None:
            report.extend(
                check_archived_copy(
                    record.name.removesuffix(".json") + ".seal.json",
                    key + ".seal.json",
                    seal,
                    await bucket.archived(key + ".seal.json"),
                    event_time=event_time,
                    retention=retention,
                )
            )
    return report
