"""The desk's queue as Prometheus sees it (served at /metrics with the shared metrics):

- `lre_verification_cases{state, policy}`: cases in each state, by verification policy,
  decided ones excluded;
- `lre_verification_oldest_waiting_seconds`: how long the oldest case waiting for an agent
  has waited (0 when none waits): the figure a support team's service level watches;
- `lre_verification_oldest_undecided_seconds`: how long the oldest case whose documents are
  in (waiting for an agent, or held by one) has waited for its decision, from the documents'
  arrival (0 when none): what the recipient feels, and what `decision_times` measures once
  the case is decided;
- `lre_verification_triage_entries`: inbound messages matched to no case, not yet assigned.

Every replica reads these figures from PostgreSQL (`measure`, every 15 seconds), never from
what it saw itself: each replica shows the whole desk, the same value as the others, so
queries and alerts take `max` over the replicas, never `sum` (which would count the queue
once per replica).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import get_args

import asyncpg
from prometheus_client import Gauge

from lre_shared.contracts import CaseState
from verification.domain.policy import PolicyName

CASES = Gauge("lre_verification_cases", "Open verification cases, by state and policy.", ["state", "policy"])
OLDEST_WAITING = Gauge(
    "lre_verification_oldest_waiting_seconds", "Wait of the oldest case no agent holds yet (0: none)."
)
OLDEST_UNDECIDED = Gauge(
    "lre_verification_oldest_undecided_seconds",
    "Wait for a decision of the oldest case with its documents in, since they arrived (0: none).",
)
TRIAGE = Gauge("lre_verification_triage_entries", "Inbound messages matched to no case, unassigned.")
OPEN_STATES = [s.value for s in CaseState if s not in (CaseState.approved, CaseState.rejected)]
# The documents are in: the desk owes the recipient a decision.
UNDECIDED_STATES = [CaseState.pending.value, CaseState.in_review.value]
POLICIES: tuple[str, ...] = get_args(PolicyName)


@dataclass(frozen=True)
class QueueFigures:
    """The desk's queue as PostgreSQL holds it at one moment."""

    cases: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, policy): open cases
    oldest_waiting_since: datetime | None = None  # pending_since of the oldest unclaimed case
    oldest_undecided_since: datetime | None = None  # pending_since of the oldest undecided case
    triage: int = 0


async def read(conn: asyncpg.Connection | asyncpg.Pool) -> QueueFigures:
    rows = await conn.fetch(
        "SELECT state, policy, count(*) AS n, min(pending_since) AS since FROM cases"
        " WHERE state = ANY($1::text[]) GROUP BY state, policy",
        OPEN_STATES,
    )
    triage = await conn.fetchval("SELECT count(*) FROM triage WHERE assigned_to IS NULL")
    return QueueFigures(
        cases={(row["state"], row["policy"]): row["n"] for row in rows},
        oldest_waiting_since=_earliest(row["since"] for row in rows if row["state"] == CaseState.pending),
        oldest_undecided_since=_earliest(row["since"] for row in rows if row["state"] in UNDECIDED_STATES),
        triage=triage,
    )


def show(figures: QueueFigures, now: datetime) -> None:
    """Sets the gauges; every state and policy shows, at 0 when no case is in it."""
    for state in OPEN_STATES:
        for policy in POLICIES:
            CASES.labels(state=state, policy=policy).set(figures.cases.get((state, policy), 0))
    for policy in {p for _, p in figures.cases} - set(POLICIES):  # a policy added since this build
        for state in OPEN_STATES:
            CASES.labels(state=state, policy=policy).set(figures.cases.get((state, policy), 0))
    OLDEST_WAITING.set(_age(figures.oldest_waiting_since, now))
    OLDEST_UNDECIDED.set(_age(figures.oldest_undecided_since, now))
    TRIAGE.set(figures.triage)


async def measure(pool: asyncpg.Pool, now: datetime) -> None:
    show(await read(pool), now)


def _earliest(moments: Iterable[datetime | None]) -> datetime | None:
    return min((m for m in moments if m is not None), default=None)


def _age(since: datetime | None, now: datetime) -> float:
    # A clock a little behind the database's gives no negative wait.
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0
