"""Checkpoints for letters settled before the signer sealed any.

A letter's checkpoint is sealed with the record that settles its fate
(`handlers.record_evidence`); a letter settled before checkpoints existed has none, and
`lre verify` rightly refuses its bundle ("checkpoint.json: missing"): nothing proves it
was not cut short. Each such letter gets, once, the checkpoint of its chain as the journal
holds it now, sealed and timestamped today: it proves where the chain ended at that time,
not at settlement, and the timestamp says so.

Safe with several replicas at once: each letter is taken under its chain's hold (the same
one its writers take), and skipped when another replica sealed its checkpoint meanwhile;
`Checkpoints.keep` never replaces a checkpoint that covers more records.
"""

from __future__ import annotations

import asyncio
import logging

from signer.domain.checkpoint import LetterCheckpoint
from signer.service_layer.ports import EvidenceSealer, UnitsOfWork

log = logging.getLogger(__name__)

# Letters sealed per transaction: one batch of seals, one timestamp (`adapters/sealing.py`).
BACKFILL_BATCH = 100


async def backfill_batch(transactions: UnitsOfWork, sealer: EvidenceSealer, *, batch: int) -> int:
    """Seal the checkpoints of up to `batch` settled letters that have none; how many were
    found missing (0: none is left)."""
    async with transactions() as uow:
        letters = await uow.checkpoints.missing(batch)
        checkpoints = []
        for letter_id in sorted(letters):  # one order for every replica: no deadlock on holds
            await uow.evidence.hold(letter_id)
            if await uow.checkpoints.exists(letter_id):
                continue  # another replica sealed it since the lookup
            end = await uow.evidence.end(letter_id)
            if end is not None:
                checkpoints.append(LetterCheckpoint.of(letter_id, end.seq, end.record_sha256))
        seals = await asyncio.gather(*(sealer.seal(c.statement()) for c in checkpoints))
        for checkpoint, seal in zip(checkpoints, seals, strict=True):
            await uow.checkpoints.keep(checkpoint, seal)
    if checkpoints:
        log.info("sealed the checkpoints of %d letters settled before checkpoints", len(checkpoints))
    return len(letters)


async def backfill_checkpoints(
    transactions: UnitsOfWork, sealer: EvidenceSealer, *, batch: int = BACKFILL_BATCH
) -> int:
    """Every settled letter without a checkpoint gets one; how many letters were found."""
    total = 0
    while (found := await backfill_batch(transactions, sealer, batch=batch)) > 0:
        total += found
        if found < batch:
            break
    return total
