"""Identity documents are personal data kept no longer than needed (DESIGN §6; GDPR art.
5(1)(e)): each is deleted from the store a configurable time (7 days by default) after its
case's final decision, an unmatched one that long after it arrived, and any one after
a longer bound (30 days by default) when its case was never decided. The row stays,
marked deleted, with its hash; the decision, the checklist and the audit trail stay too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from lre_shared.clock import Clock
from verification.service_layer.ports import DocumentVault, UnitsOfWork

log = logging.getLogger(__name__)


async def sweep(
    transactions: UnitsOfWork,
    vault: DocumentVault,
    *,
    retention: timedelta,
    longest: timedelta = timedelta(days=30),
    now: datetime,
) -> int:
    """Delete every document past its retention; returns how many. Safe to run twice.

    `longest` bounds what a case never decided (the recipient gave up) keeps."""
    async with transactions() as uow:
        expired = await uow.documents.past_retention(now - retention, now - longest)
    for document in expired:
        # The object first: a crash in between leaves a row to sweep again, never an object
        # nobody would delete.
        await vault.delete(document.object_key)
        async with transactions() as uow:
            marked = await uow.documents.mark_deleted(document.document_id, now)
            # Another replica's sweep marked it meanwhile: its audit entry is written already.
            if marked and document.case_id is not None:
                await uow.case_events.record(
                    document.case_id, "retention", "document_deleted", now, document_id=document.document_id
                )
    if expired:
        log.info("deleted %d identity documents past their retention", len(expired))
    return len(expired)


def sweeper(
    transactions: UnitsOfWork, vault: DocumentVault, retention: timedelta, longest: timedelta, clock: Clock
) -> Callable[[object], Awaitable[int]]:
    """The sweep as a periodic task runs it (the task hands it the pool, which `transactions`
    reaches already)."""

    async def run(_pool: object) -> int:
        return await sweep(transactions, vault, retention=retention, longest=longest, now=clock())

    return run
