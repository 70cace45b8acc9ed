"""How long recipients wait for the desk's decision, as Prometheus sees it:

- `lre_verification_decision_seconds{outcome, policy}`: a histogram of the time from the
  moment a case's documents arrived (it entered the agents' queue: `pending_since`) to an
  agent's decision on it (`approved`, `rejected`, `more_documents`). The recipient waits
  from when they sent their documents; before that, the case waits on them, not on the
  desk. After `more_documents`, the next wait runs from the next documents. Its `_count` is
  the decisions counter, by outcome and policy.

A decision is observed once its transaction has committed, never before: a decision rolled
back (a failed statement, a lost connection) is not counted. The desk's HTTP units of work
(`units_of_work`) note the `VerificationDecided` events the use case publishes, read the
case's policy and `pending_since` in the same transaction, and observe after the commit.
Each replica observes the decisions it committed: Prometheus sums the replicas
(`sum by (le) (rate(…_bucket[…]))`), and `histogram_quantile` gives p50 and p95 from that.
Approvals of the identity provider (`provider_identity`) arrive by the bus, not through the
desk's units of work: they are no agent's decision and are not counted here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import get_args, get_type_hints
from uuid import UUID

import asyncpg
from prometheus_client import Histogram

from lre_shared.bus import Transaction
from lre_shared.contracts import Message, VerificationDecided
from verification.adapters.postgres import PgUnitOfWork
from verification.domain.policy import PolicyName

# Minutes to days: a desk answers within the hour on a good day, within a working day on a
# bad one, and a case left over a weekend still lands in a bucket of its own.
BUCKETS = (60, 300, 600, 900, 1800, 2700, 3600, 5400, 7200, 10800, 14400, 21600, 28800, 43200, 86400, 172800)
DECISION_SECONDS = Histogram(
    "lre_verification_decision_seconds",
    "Time from a case's documents arriving to an agent's decision, by outcome and policy.",
    ["outcome", "policy"],
    buckets=BUCKETS,
)
OUTCOMES: tuple[str, ...] = get_args(get_type_hints(VerificationDecided)["outcome"])
for _outcome in OUTCOMES:
    for _policy in get_args(PolicyName):
        DECISION_SECONDS.labels(outcome=_outcome, policy=_policy)  # every series shows before the first


@dataclass(frozen=True)
class DecisionTime:
    outcome: str
    policy: str
    seconds: float


def waited(decided_at: datetime, pending_since: datetime | None, opened_at: datetime) -> float:
    """Seconds the recipient waited for this decision: from the documents' arrival (the case's
    opening if it never entered the queue, as a case decided on documents brought by a
    supervisor's triage may not have)."""
    return max(0.0, (decided_at - (pending_since or opened_at)).total_seconds())


def observe(times: list[DecisionTime]) -> None:
    for time in times:
        DECISION_SECONDS.labels(outcome=time.outcome, policy=time.policy).observe(time.seconds)


class DecisionsNoted(PgUnitOfWork):
    """The desk's unit of work, noting the decisions it publishes (to time them at commit)."""

    def __init__(self, tx: Transaction) -> None:
        super().__init__(tx)
        self.decided: list[VerificationDecided] = []

    async def publish(self, message: Message) -> None:
        await super().publish(message)
        if isinstance(message, VerificationDecided):
            self.decided.append(message)

    async def decision_times(self) -> list[DecisionTime]:
        """The noted decisions with their waits, read in this transaction (before it commits)."""
        if not self.decided:
            return []
        rows = await self.conn.fetch(
            "SELECT case_id, policy, pending_since, opened_at FROM cases WHERE case_id = ANY($1::uuid[])",
            [d.case_id for d in self.decided],
        )
        cases: dict[UUID, asyncpg.Record] = {row["case_id"]: row for row in rows}
        return [
            DecisionTime(
                d.outcome,
                cases[d.case_id]["policy"],
                waited(d.decided_at, cases[d.case_id]["pending_since"], cases[d.case_id]["opened_at"]),
            )
            for d in self.decided
            if d.case_id in cases
        ]


def units_of_work(
    pool: Callable[[], asyncpg.Pool],
) -> Callable[[], AbstractAsyncContextManager[DecisionsNoted]]:
    """The desk's units of work, each a transaction on a pooled connection (as
    `postgres.units_of_work`), whose decisions are timed once it has committed."""

    @asynccontextmanager
    async def unit() -> AsyncIterator[DecisionsNoted]:
        async with pool().acquire() as conn:
            async with conn.transaction():
                uow = DecisionsNoted(Transaction(conn))
                yield uow
                times = await uow.decision_times()
            observe(times)  # committed: the block and the commit both went through

    return unit
