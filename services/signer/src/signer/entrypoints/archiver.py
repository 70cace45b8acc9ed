"""The background task that keeps the evidence bucket up to date with the journal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import asyncpg

from signer.adapters.evidence_store import EvidenceStore
from signer.service_layer.archiving import archive_pending

log = logging.getLogger(__name__)


class EvidenceArchiver:
    def __init__(self, store: EvidenceStore, *, retention: timedelta, poll_seconds: float) -> None:
        self._store = store
        self._retention = retention
        self._poll = poll_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self, pool: asyncpg.Pool) -> None:
        await self._store.ensure_bucket()  # refuses a bucket without object lock: no start
        self._task = asyncio.create_task(self._run(pool), name="evidence-archiver")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, pool: asyncpg.Pool) -> None:
        while True:
            try:
                while await archive_pending(pool, self._store, retention=self._retention) > 0:
                    pass
            except Exception:
                log.exception("copying evidence to the evidence bucket failed; retrying")
            await asyncio.sleep(self._poll)
