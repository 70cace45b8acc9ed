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

import asyncpg

from verification.adapters.vault import DocumentVault
from verification.service_layer.cases import record

log = logging.getLogger(__name__)


async def sweep(
    pool: asyncpg.Pool,
    vault: DocumentVault,
    *,
    retention: timedelta,
    longest: timedelta = timedelta(days=30),
    now: datetime,
) -> int:
    """Delete every document past its retention; returns how many. Safe to run twice.

    `longest` bounds what a case never decided (the recipient gave up) keeps."""
    rows = await pool.fetch(
        "SELECT d.document_id, d.case_id, d.object_key FROM documents d"
        " LEFT JOIN cases c ON c.case_id = d.case_id"
        " WHERE d.deleted_at IS NULL AND ("
        "   (c.state IN ('approved', 'rejected') AND c.decided_at <= $1)"
        "   OR (d.case_id IS NULL AND d.received_at <= $1)"
        "   OR d.received_at <= $2)"
        " LIMIT 1000",
        now - retention,
        now - longest,
    )
    for row in rows:
        # The object first: a crash in between leaves a row to sweep again, never an object
        # nobody would delete.
        await vault.delete(row["object_key"])
        async with pool.acquire() as conn, conn.transaction():
            marked = await conn.execute(
                "UPDATE documents SET deleted_at = $2 WHERE document_id = $1 AND deleted_at IS NULL",
                row["document_id"],
                now,
            )
            # Another replica's sweep marked it meanwhile: its audit entry is written already.
            if marked != "UPDATE 0" and row["case_id"] is not None:
                await record(
                    conn, row["case_id"], "retention", "document_deleted", now, document_id=row["document_id"]
                )
    if rows:
        log.info("deleted %d identity documents past their retention", len(rows))
    return len(rows)


def sweeper(
    vault: DocumentVault, retention: timedelta, longest: timedelta, clock: Callable[[], datetime]
) -> Callable[[asyncpg.Pool], Awaitable[int]]:
    async def run(pool: asyncpg.Pool) -> int:
        return await sweep(pool, vault, retention=retention, longest=longest, now=clock())

    return run
