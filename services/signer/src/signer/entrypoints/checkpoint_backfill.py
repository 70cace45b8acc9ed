"""The one-off background task, at each start, that seals the checkpoints of letters settled
before the signer sealed any (`service_layer/checkpoints.py`). It runs beside the consumers,
so a slow TSA does not delay the start; a failed run is tried again until one completes."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import KW_ONLY, dataclass

import asyncpg

from lre_shared.background import PoolTask
from signer.adapters.postgres import Transactions
from signer.service_layer.checkpoints import backfill_checkpoints
from signer.service_layer.ports import EvidenceSealer

log = logging.getLogger(__name__)


@dataclass(eq=False)
class CheckpointBackfill(PoolTask):
    name = "checkpoint-backfill"

    sealer: EvidenceSealer
    _: KW_ONLY
    retry_seconds: float = 30.0

    async def run(self, pool: asyncpg.Pool) -> None:
        while not pool.is_closing():
            try:
                await backfill_checkpoints(Transactions(pool), self.sealer)
                return
            except Exception:
                log.exception("sealing the checkpoints of letters settled without one failed; trying again")
            await asyncio.sleep(self.retry_seconds)
