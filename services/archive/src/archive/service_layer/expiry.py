"""Expiry of letters' content (see `archive.domain.expiry` for the rules).

The archive learns the first notice (`notice.sent.v1`) and the acceptance
(`letter.accepted.v1`); `sweep` deletes what is due. The sweeper claims letters with
`FOR UPDATE SKIP LOCKED`, deletes their objects, publishes through the outbox and marks them,
in one transaction: several sweepers (replicas, a restart mid-run) never take the same letter,
and a crash before commit leaves the letter to the next run, which deletes again (deleting a
missing object is no error) and publishes once, since only the commit publishes.
"""

from __future__ import annotations

import logging

import asyncpg

from archive.adapters.storage import ContentStore
from archive.domain.expiry import Clock, RetentionPolicy
from lre_shared import outbox
from lre_shared.bus import Transaction
from lre_shared.messages import (
    ContentHandoverFailed,
    LetterAccepted,
    LetterUnclaimed,
    NoticeKind,
    NoticeSent,
    ReceiptSigned,
)

log = logging.getLogger(__name__)


async def on_notice_sent(event: NoticeSent, tx: Transaction, *, policy: RetentionPolicy) -> None:
    """The first notice starts the acceptance window (CPCE R.53-3: from the day after)."""
    if event.kind is not NoticeKind.notice:
        return
    await tx.conn.execute(
        "UPDATE letters SET first_notice_at = $2, window_closes_at = $3"
        " WHERE letter_id = $1 AND (first_notice_at IS NULL OR first_notice_at > $2)",
        event.correlation_id,
        event.sent_at,
        policy.window_closes_at(event.sent_at),
    )


async def on_letter_accepted(event: LetterAccepted, tx: Transaction) -> None:
    """The first pickup: the download window starts."""
    updated = await tx.conn.execute(
        "UPDATE letters SET accepted_at = coalesce(accepted_at, $2) WHERE letter_id = $1",
        event.correlation_id,
        event.accepted_at,
    )
    if updated == "UPDATE 0":
        log.warning(
            "acceptance of a letter the archive does not hold", extra={"letter_id": str(event.correlation_id)}
        )


async def on_receipt_signed(event: ReceiptSigned, tx: Transaction) -> None:
    """The acknowledgement of receipt is signed (CPCE R.53-3): the zip may be downloaded."""
    await tx.conn.execute(
        "UPDATE letters SET receipt_signed_at = coalesce(receipt_signed_at, $2) WHERE letter_id = $1",
        event.correlation_id,
        event.signed_at,
    )


async def on_letter_unclaimed(event: LetterUnclaimed, tx: Transaction) -> None:
    """The window closed without a decision (non réclamée): the pickup, which owns the window,
    says when it closed; the content goes `unaccepted_grace` after that, even when the archive
    never heard of the notice."""
    await tx.conn.execute(
        "UPDATE letters SET unclaimed_at = coalesce(unclaimed_at, $2), window_closes_at = $3"
        " WHERE letter_id = $1 AND accepted_at IS NULL",
        event.correlation_id,
        event.occurred_at,
        event.window_closed_at,
    )


async def sweep(
    pool: asyncpg.Pool,
    *,
    store: ContentStore,
    clock: Clock,
    policy: RetentionPolicy,
    batch: int = 50,
) -> int:
    """Delete the content of every letter that is due; returns how many letters it swept."""
    swept = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            now = clock.now()
            due = await conn.fetch(
                "SELECT letter_id, item_number, accepted_at, handed_over_at FROM letters"
                " WHERE content_deleted_at IS NULL AND ("
                "   (accepted_at IS NOT NULL AND accepted_at + $2::interval <= $1)"
                "   OR (accepted_at IS NULL AND window_closes_at + $3::interval <= $1))"
                " ORDER BY letter_id LIMIT $4 FOR UPDATE SKIP LOCKED",
                now,
                policy.download,
                policy.unaccepted_grace,
                batch,
            )
            for letter in due:
                keys = await conn.fetch(
                    "SELECT object_key FROM documents WHERE letter_id = $1"
                    " UNION SELECT object_key FROM envelopes WHERE letter_id = $1",
                    letter["letter_id"],
                )
                for key in keys:
                    await store.delete(key["object_key"])
                accepted_at = letter["accepted_at"]
                if accepted_at is not None and letter["handed_over_at"] is None:
                    # ETSI EN 319 522 ContentHandoverFailure: accepted, never downloaded.
                    await outbox.enqueue(
                        conn,
                        ContentHandoverFailed(
                            correlation_id=letter["letter_id"],
                            item_number=letter["item_number"],
                            window_closed_at=policy.download_window_ends_at(accepted_at),
                        ),
                    )
                await conn.execute(
                    "UPDATE letters SET content_deleted_at = $2 WHERE letter_id = $1",
                    letter["letter_id"],
                    now,
                )
                log.info("content deleted", extra={"letter_id": str(letter["letter_id"])})
        swept += len(due)
        if len(due) < batch:
            return swept
