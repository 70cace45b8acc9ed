"""The background task that issues the proofs the event handlers asked for
(`service_layer/proof_issuing.py`), as soon as their transactions commit.

It listens on PostgreSQL's `NOTIFY` channel the requests are announced on (delivered at their
commit, to every replica) and also looks every `poll_seconds`, so a request announced while
the listening connection was being replaced is not left waiting. Replicas share the jobs
(`FOR UPDATE SKIP LOCKED` and a lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import asyncpg

from lre_shared.background import PoolTask
from signer.adapters.postgres import PROOF_JOBS_CHANNEL, Transactions
from signer.domain.evidence import SealAssurance
from signer.service_layer.ports import ProofSealer
from signer.service_layer.proof_issuing import issue_due

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ProofIssuer(PoolTask):
    name = "proof-issuer"

    proofs: ProofSealer
    _: KW_ONLY
    policy_id: str
    assurance: SealAssurance
    poll_seconds: float = 1.0
    lease_seconds: float = 120.0
    concurrency: int = 1
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def run(self, pool: asyncpg.Pool) -> None:
        transactions = Transactions(pool)
        while not pool.is_closing():
            try:
                # One of the pool's connections listens while the issuer runs.
                async with pool.acquire() as listener:
                    await listener.add_listener(PROOF_JOBS_CHANNEL, self._notified)
                    try:
                        await self._issue_while_open(transactions, listener)
                    finally:
                        if not listener.is_closed():
                            await listener.remove_listener(PROOF_JOBS_CHANNEL, self._notified)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("proof issuer: %s; trying again in %.0f s", error, self.poll_seconds)
                await asyncio.sleep(self.poll_seconds)

    async def _issue_while_open(self, transactions: Transactions, listener: asyncpg.Connection) -> None:
        """Issue what waits, then wait for a request (or the next look), until the listening
        connection is lost."""
        while not listener.is_closed():
            self._wake.clear()
            while (
                await issue_due(
                    transactions,
                    proofs=self.proofs,
                    policy_id=self.policy_id,
                    assurance=self.assurance,
                    batch=max(8, 2 * self.concurrency),
                    concurrency=self.concurrency,
                    lease_seconds=self.lease_seconds,
                )
                > 0
            ):
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
