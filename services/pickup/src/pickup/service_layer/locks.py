"""Holds on an item after wrong answers (the rules are in `pickup.domain.locks`), and their
lift by a supervisor of the verification desk (`LiftLetterLock`).

An answer is judged against the holds as last read and settled by one conditional update
of the letter's row, which applies only if the holds are still what was judged: of answers
arriving at once each is judged in turn, none is lost and none slips past a hold. One that
finds the holds changed meanwhile reads them again and is judged again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import asyncpg

from lre_shared.bus import Transaction
from lre_shared.messages import LetterLocked, LetterLockLifted, LiftLetterLock, LockKind
from lre_shared.outbox import enqueue
from pickup.domain.locks import HoldRules, Holds, Judgement, judge

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

# The letter's columns of each kind: its holds, and its count of wrong answers (all time).
COLUMNS = {
    LockKind.identity: ("identity_holds", "identity_failures"),
    LockKind.code: ("code_holds", "code_failures"),
}


async def stored_holds(conn: asyncpg.Pool | asyncpg.Connection, letter_id: UUID, kind: LockKind) -> str:
    holds, _ = COLUMNS[kind]
    text: str = await conn.fetchval(f"SELECT {holds}::text FROM letters WHERE letter_id = $1", letter_id)  # noqa: S608 - constant column
    return text


async def answer(
    pool: asyncpg.Pool,
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
    holds_column, failures_column = COLUMNS[kind]
    settle = (
        f"UPDATE letters SET {holds_column} = $3::jsonb, {failures_column} = {failures_column} + 1"  # noqa: S608 - constant columns
        f" WHERE letter_id = $1 AND {holds_column} = $2::jsonb RETURNING item_number"
    )
    while True:
        if stored is None:
            stored = await stored_holds(pool, letter_id, kind)
        judgement = judge(Holds.from_json(stored), address, wrong, now, rules)
        if not judgement.judged or not wrong:
            return judgement
        async with pool.acquire() as conn, conn.transaction():
            item_number = await conn.fetchval(settle, letter_id, stored, judgement.holds.to_json())
            if item_number is not None:
                for hold in judgement.started:
                    await enqueue(
                        conn,
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


async def on_lift_letter_lock(command: LiftLetterLock, tx: Transaction, *, clock: Clock) -> None:
    """A supervisor lifts the letter's holds of the kinds asked: every address's and the
    item's, and the delays start again from the first. Announced (`LetterLockLifted`) for the
    desk, which sends codes again, and for the signer, which records it as evidence."""
    letter_id = command.correlation_id
    kinds = tuple(dict.fromkeys(command.kinds))
    row = await tx.conn.fetchrow(
        "SELECT item_number, identity_holds::text AS identity, code_holds::text AS code"
        " FROM letters WHERE letter_id = $1 FOR UPDATE",
        letter_id,
    )
    if row is None:
        log.warning("lock lift for an unknown letter", extra={"letter_id": str(letter_id)})
        return
    latest = [Holds.from_json(row[str(kind)]).latest() for kind in kinds]
    assignments = ", ".join(f"{COLUMNS[kind][0]} = '{{}}'" for kind in kinds)
    await tx.conn.execute(f"UPDATE letters SET {assignments} WHERE letter_id = $1", letter_id)  # noqa: S608 - constant columns
    await tx.publish(
        LetterLockLifted(
            correlation_id=letter_id,
            item_number=row["item_number"],
            kinds=kinds,
            supervisor=command.supervisor,
            reason=command.reason,
            lifted_at=clock(),
            locked_until=max((moment for moment in latest if moment is not None), default=None),
        )
    )
