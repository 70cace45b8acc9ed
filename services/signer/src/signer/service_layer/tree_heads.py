"""The log's signed tree heads (RFC 6962 §3.5): every record, in log order, under one sealed
Merkle tree hash, taken periodically.

A record gets its position in the log (its leaf index) here, not when it is inserted: the
inserting transactions commit in an order no one knows in advance, and a tree head must
never cover positions a later commit could still fill. Records committed since the last
head take the next positions, in the order they were recorded; positions, once given,
never change, so each head extends the one before (RFC 6962 §2.1.2: the older tree is a
prefix of the newer).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg

from signer.domain.checkpoint import TreeHead
from signer.service_layer.ports import EvidenceSealer

log = logging.getLogger(__name__)

# One signer replica at a time takes records into the log and signs its head.
LOG_LOCK = "lre-signer:evidence-log"


async def sign_tree_head(pool: asyncpg.Pool, sealer: EvidenceSealer) -> TreeHead | None:
    """Take the records committed since the last head into the log, and seal, timestamp and
    store the new head; None when no record came in (the last head still holds)."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", LOG_LOCK):
            return None  # another replica is at it
        taken = await conn.execute(
            "WITH next AS (SELECT evidence_id, row_number() OVER (ORDER BY recorded_at, evidence_id) AS n"
            " FROM evidence WHERE log_index IS NULL),"
            " base AS (SELECT coalesce(max(log_index), -1) AS last FROM evidence)"
            " UPDATE evidence SET log_index = base.last + next.n FROM next, base"
            " WHERE evidence.evidence_id = next.evidence_id"
        )
        last_size = await conn.fetchval("SELECT coalesce(max(tree_size), 0) FROM log_tree_heads")
        if taken == "UPDATE 0" and last_size > 0:
            return None
        digests = [
            row["record_sha256"]
            for row in await conn.fetch(
                "SELECT record_sha256 FROM evidence WHERE log_index IS NOT NULL ORDER BY log_index"
            )
        ]
        if not digests or len(digests) == last_size:
            return None
        head = TreeHead.over(digests, datetime.now(UTC).isoformat())
        statement = head.statement()
        seal = await sealer.seal(statement)
        await conn.execute(
            "INSERT INTO log_tree_heads (tree_size, root_sha256, statement, seal) VALUES ($1, $2, $3, $4)",
            head.tree_size,
            head.root.hex(),
            statement,
            seal,
        )
    log.info("signed tree head: %d records, root %s", head.tree_size, head.root.hex())
    return head
