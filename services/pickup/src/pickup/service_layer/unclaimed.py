"""Letters nobody accepted or refused in time become unclaimed (non réclamée).

CPCE R.53-3: the recipient has 15 days from the day after the first notice; when the window
closes with no decision, the sender gets the proof of non-claim without delay. ETSI EN 319
522 names the event AcceptanceRejectionExpiry. The sweep marks the letter and writes
`LetterUnclaimed` to the outbox in the same transaction, so the sender hears at once, and
only once: a letter leaves the `awaiting` state in that transaction, and rows are taken with
`SKIP LOCKED`, so replicas and restarts never announce a letter twice.

A letter whose notice never left has no window yet (the recipient was never told): it is
not swept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import asyncpg

from lre_shared.messages import LetterUnclaimed
from lre_shared.outbox import enqueue
from lre_shared.rules import RulesProfile

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


async def sweep(pool: asyncpg.Pool, *, rules: RulesProfile, clock: Clock, batch: int = 100) -> int:
    """Mark every letter whose window has closed; returns how many it marked."""
    marked = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            now = clock()
            # The window closes at midnight (local time) after the deadline: closed once the
            # local date is past the deadline.
            today = now.astimezone(rules.timezone).date()
            due = await conn.fetch(
                "SELECT letter_id, item_number, deadline FROM letters"
                " WHERE state = 'awaiting' AND first_notice_at IS NOT NULL AND deadline < $1"
                " ORDER BY deadline, letter_id LIMIT $2 FOR UPDATE SKIP LOCKED",
                today,
                batch,
            )
            for letter in due:
                await conn.execute(
                    "UPDATE letters SET state = 'unclaimed', unclaimed_at = $2 WHERE letter_id = $1",
                    letter["letter_id"],
                    now,
                )
                await enqueue(
                    conn,
                    LetterUnclaimed(
                        correlation_id=letter["letter_id"],
                        item_number=letter["item_number"],
                        window_closed_at=rules.window_closes_at(letter["deadline"]),
                    ),
                )
                log.info(
                    "unclaimed: the acceptance window closed", extra={"letter_id": str(letter["letter_id"])}
                )
        marked += len(due)
        if len(due) < batch:
            return marked
