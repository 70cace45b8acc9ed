"""The one-off background task, at each start, that seals the checkpoints of letters settled
before the signer sealed any (`service_layer/checkpoints.py`). It runs beside the consumers,
so a slow TSA does not delay the start; a failed run is tried again until one completes."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from lre_shared import background
from signer.adapters.postgres import Transactions
from signer.service_layer.checkpoints import backfill_checkpoints
from signer.service_layer.ports import EvidenceSealer

log = logging.getLogger(__name__)


class CheckpointBackfill:
    def __init__(self, sealer: EvidenceSealer, *, retry_seconds: float = 30.0) -> None:
        self._sealer = sealer
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self, pool: asyncpg.Pool) -> None:
        self._task = asyncio.create_task(self._run(pool), name="checkpoint-backfill")

    async def stop(self) -> None:
        await background.cancel(self._task)
        self._task = None

    async def _run(self, pool: asyncpg.Pool) -> None:
        while not pool.is_closing():
            try:
                await backfill_checkpoints(Transactions(pool), self._sealer)
                return
            except Exception:
                log.exception("sealing the checkpoints of letters settled without one failed; trying again")
            await asyncio.sleep(self._retry)
