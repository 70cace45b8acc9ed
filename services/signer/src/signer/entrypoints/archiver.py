"""The background task that keeps the evidence bucket up to date with the journal."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from lre_shared.runtime import PeriodicTask
from signer.adapters.postgres import Transactions
from signer.service_layer.archiving import archive_pending
from signer.service_layer.ports import EvidenceStore


class EvidenceArchiver:
    def __init__(self, store: EvidenceStore, *, retention: timedelta, poll_seconds: float) -> None:
        self._store = store
        self._retention = retention
        self._task = PeriodicTask("evidence-archiver", self._copy_pending, poll_seconds)

    async def start(self, pool: asyncpg.Pool) -> None:
        await self._store.ensure_bucket()  # refuses a bucket without object lock: no start
        await self._task.start(pool)

    async def stop(self) -> None:
        await self._task.stop()

    async def _copy_pending(self, pool: asyncpg.Pool) -> None:
        transactions = Transactions(pool)
        while await archive_pending(transactions, self._store, retention=self._retention) > 0:
            pass
