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

from lre_shared.clock import Clock
from lre_shared.contracts import LetterUnclaimed
from lre_shared.rules import RulesProfile
from pickup.service_layer.ports import Storage

log = logging.getLogger(__name__)


async def sweep(storage: Storage, *, rules: RulesProfile, clock: Clock, batch: int = 100) -> int:
    """Mark every letter whose window has closed; returns how many it marked."""
    marked = 0
    while True:
        async with storage.unit_of_work() as uow:
            now = clock()
            # The window closes at midnight (local time) after the deadline: closed once the
            # local date is past the deadline.
            today = now.astimezone(rules.timezone).date()
            due = await uow.letters.due_unclaimed(today, batch)
            for letter in due:
                await uow.letters.mark_unclaimed(letter.letter_id, now)
                await uow.publish(
                    LetterUnclaimed(
                        correlation_id=letter.letter_id,
                        item_number=letter.item_number,
                        window_closed_at=rules.window_closes_at(letter.deadline),
                    ),
                )
                log.info(
                    "unclaimed: the acceptance window closed", extra={"letter_id": str(letter.letter_id)}
                )
        marked += len(due)
        if len(due) < batch:
            return marked
