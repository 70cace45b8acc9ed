"""The background task that signs a tree head of the whole evidence log, periodically."""

from __future__ import annotations

import asyncpg

from lre_shared.runtime import PeriodicTask
from signer.adapters.postgres import Transactions
from signer.service_layer.ports import EvidenceSealer
from signer.service_layer.tree_heads import sign_tree_head


class TreeHeadSigner:
    def __init__(self, sealer: EvidenceSealer, *, every_seconds: float) -> None:
        self._sealer = sealer
        self._task = PeriodicTask("evidence-tree-head", self._sign, every_seconds)

    async def start(self, pool: asyncpg.Pool) -> None:
        await self._task.start(pool)

    async def stop(self) -> None:
        await self._task.stop()

    async def _sign(self, pool: asyncpg.Pool) -> None:
        await sign_tree_head(Transactions(pool), self._sealer)
