"""Holds on an item after wrong answers (the rules are in `pickup.domain.locks`), and their
lift by a supervisor of the verification desk (`LiftLetterLock`).

An answer is judged against the holds as last read and settled by one conditional update
of the letter's row, which applies only if the holds are still what was judged: of answers
arriving at once each is judged in turn, none is lost and none slips past a hold. One that
finds the holds changed meanwhile reads them again and is judged again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from lre_shared.clock import Clock
from lre_shared.contracts import LetterLocked, LetterLockLifted, LiftLetterLock, LockKind
from pickup.domain.locks import HoldRules, Holds, Judgement, judge
from pickup.service_layer.ports import Storage, UnitOfWork

log = logging.getLogger(__name__)


async def answer(
    storage: Storage,
    letter_id: UUID,
    kind: LockKind,
    address: str,
    wrong: bool,
    rules: HoldRules,
    now: datetime,
    stored: str | None = None,
) -> Judgement:
    """Judge one answer from `address` (`stored`: the holds as the caller read them, if it
    did); a wrong one is counted, and a hold it starts is announced (`LetterLocked`, through
    the outbox, in the same transaction)."""
    while True:
        if stored is None:
            stored = await storage.letters.holds(letter_id, kind)
        judgement = judge(Holds.from_json(stored), address, wrong, now, rules)
        if not judgement.judged or not wrong:
            return judgement
        async with storage.unit_of_work() as uow:
            item_number = await uow.letters.settle_holds(letter_id, kind, stored, judgement.holds.to_json())
            if item_number is not None:
                for hold in judgement.started:
                    await uow.publish(
                        LetterLocked(
                            correlation_id=letter_id,
                            item_number=item_number,
                            kind=kind,
                            scope=hold.scope,
                            locked_at=now,
                            locked_until=hold.until,
                        ),
                    )
                return judgement
        stored = None  # another answer changed the holds first: judge this one again


async def on_lift_letter_lock(command: LiftLetterLock, uow: UnitOfWork, *, clock: Clock) -> None:
    """A supervisor lifts the letter's holds of the kinds asked: every address's and the
    item's, and the delays start again from the first. Announced (`LetterLockLifted`) for the
    desk, which sends codes again, and for the signer, which records it as evidence."""
    letter_id = command.correlation_id
    kinds = tuple(dict.fromkeys(command.kinds))
    stored = await uow.letters.holds_for_update(letter_id)
    if stored is None:
        log.warning("lock lift for an unknown letter", extra={"letter_id": str(letter_id)})
        return
    latest = [Holds.from_json(stored.by_kind[str(kind)]).latest() for kind in kinds]
    await uow.letters.lift_holds(letter_id, kinds)
    await uow.publish(
        LetterLockLifted(
            correlation_id=letter_id,
            item_number=stored.item_number,
            kinds=kinds,
            supervisor=command.supervisor,
            reason=command.reason,
            lifted_at=clock(),
            locked_until=max((moment for moment in latest if moment is not None), default=None),
        )
    )
