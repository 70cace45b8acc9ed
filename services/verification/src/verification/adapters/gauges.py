"""The desk's queue as Prometheus sees it (served at /metrics with the shared metrics):

- `lre_verification_cases{state}`: cases in each state, decided ones excluded;
- `lre_verification_oldest_waiting_seconds`: how long the oldest case waiting for an agent
  has waited (0 when none waits): the figure a support team's service level watches;
- `lre_verification_triage_entries`: inbound messages matched to no case, not yet assigned.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from prometheus_client import Gauge

from lre_shared.contracts import CaseState

CASES = Gauge("lre_verification_cases", "Open verification cases, by state.", ["state"])
OLDEST_WAITING = Gauge(
    "lre_verification_oldest_waiting_seconds", "Wait of the oldest case no agent holds yet (0: none)."
)
TRIAGE = Gauge("lre_verification_triage_entries", "Inbound messages matched to no case, unassigned.")
OPEN_STATES = [s.value for s in CaseState if s not in (CaseState.approved, CaseState.rejected)]


async def measure(pool: asyncpg.Pool, now: datetime) -> None:
    async with pool.acquire() as conn:
        counts = {
            row["state"]: row["n"]
            for row in await conn.fetch(
                "SELECT state, count(*) AS n FROM cases WHERE state = ANY($1::text[]) GROUP BY state",
                OPEN_STATES,
            )
        }
        oldest = await conn.fetchval("SELECT min(pending_since) FROM cases WHERE state = 'pending'")
        triage = await conn.fetchval("SELECT count(*) FROM triage WHERE assigned_to IS NULL")
    for state in OPEN_STATES:
        CASES.labels(state=state).set(counts.get(state, 0))
    OLDEST_WAITING.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
    TRIAGE.set(triage)
