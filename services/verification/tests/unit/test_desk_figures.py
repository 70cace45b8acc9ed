"""The desk's figures without a database: the queue gauges set from what PostgreSQL holds, and
the decision times noted by the desk's unit of work and observed in the histogram."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from prometheus_client import REGISTRY

from lre_shared.bus import Transaction
from lre_shared.contracts import LiftLetterLock, LockKind, Message, VerificationDecided
from verification.adapters import decision_times, gauges
from verification.adapters.decision_times import DecisionsNoted, DecisionTime

NOW = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


# ------------------------------------------------------------------ the queue


def test_every_state_and_policy_shows_with_zero_where_no_case_is() -> None:
    gauges.show(gauges.QueueFigures(cases={("pending", "cnb"): 3, ("in_review", "default"): 2}), NOW)

    assert sample("lre_verification_cases", state="pending", policy="cnb") == 3
    assert sample("lre_verification_cases", state="in_review", policy="default") == 2
    assert sample("lre_verification_cases", state="pending", policy="default") == 0
    assert sample("lre_verification_cases", state="awaiting_documents", policy="cnb") == 0
    assert sample("lre_verification_cases", state="approved", policy="default") is None  # decided: not shown


def test_a_case_that_left_a_state_no_longer_counts_there() -> None:
    gauges.show(gauges.QueueFigures(cases={("more_documents", "default"): 4}), NOW)
    gauges.show(gauges.QueueFigures(), NOW)

    assert sample("lre_verification_cases", state="more_documents", policy="default") == 0


def test_the_oldest_waits_are_ages_now_and_zero_without_a_case() -> None:
    gauges.show(
        gauges.QueueFigures(
            oldest_waiting_since=NOW - timedelta(minutes=30), oldest_undecided_since=NOW - timedelta(hours=2)
        ),
        NOW,
    )
    assert sample("lre_verification_oldest_waiting_seconds") == 1800
    assert sample("lre_verification_oldest_undecided_seconds") == 7200

    gauges.show(gauges.QueueFigures(), NOW)
    assert sample("lre_verification_oldest_waiting_seconds") == 0
    assert sample("lre_verification_oldest_undecided_seconds") == 0


def test_a_case_stamped_after_the_clock_waits_zero_not_a_negative_time() -> None:
    gauges.show(gauges.QueueFigures(oldest_waiting_since=NOW + timedelta(seconds=2)), NOW)

    assert sample("lre_verification_oldest_waiting_seconds") == 0


# ------------------------------------------------------------------ decision times


def test_the_wait_runs_from_the_documents_arrival_else_from_the_opening() -> None:
    opened, documents = NOW - timedelta(days=2), NOW - timedelta(minutes=45)

    assert decision_times.waited(NOW, documents, opened) == 45 * 60
    assert decision_times.waited(NOW, None, opened) == 2 * 86400
    assert decision_times.waited(NOW, NOW + timedelta(seconds=1), opened) == 0


def test_every_outcome_and_policy_shows_before_the_first_decision() -> None:
    for outcome in ("approved", "rejected", "more_documents"):
        for policy in ("default", "cnb"):
            assert (
                sample("lre_verification_decision_seconds_count", outcome=outcome, policy=policy) is not None
            )


def test_a_decision_time_lands_in_the_buckets_from_its_wait_up() -> None:
    labels = {"outcome": "more_documents", "policy": "cnb"}
    count = sample("lre_verification_decision_seconds_count", **labels) or 0
    under, over = (
        sample("lre_verification_decision_seconds_bucket", le=le, **labels) or 0
        for le in ("3600.0", "5400.0")
    )

    decision_times.observe([DecisionTime("more_documents", "cnb", 4000.0)])

    assert sample("lre_verification_decision_seconds_count", **labels) == count + 1
    assert sample("lre_verification_decision_seconds_bucket", le="3600.0", **labels) == under
    assert sample("lre_verification_decision_seconds_bucket", le="5400.0", **labels) == over + 1


class RecordingTransaction(Transaction):
    def __init__(self, conn: Any) -> None:
        super().__init__(conn)
        self.published: list[Message] = []

    async def publish(self, message: Message) -> None:
        self.published.append(message)


class CasesTable:
    """Answers the unit of work's one query on the cases' policy and arrival."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    async def fetch(self, query: str, case_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
        assert "FROM cases" in query
        return [row for row in self.rows if row["case_id"] in case_ids]


def decided(case_id: uuid.UUID, outcome: str) -> VerificationDecided:
    return VerificationDecided(
        correlation_id=uuid.uuid4(),
        case_id=case_id,
        item_number="123456789012",
        outcome=cast(Any, outcome),
        reason=None if outcome == "approved" else "blurred",
        decided_at=NOW,
    )


async def test_the_unit_of_work_times_the_decisions_it_publishes_and_passes_on_every_message() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    table = CasesTable(
        [
            {
                "case_id": first,
                "policy": "default",
                "pending_since": NOW - timedelta(hours=1),
                "opened_at": NOW,
            },
            {
                "case_id": second,
                "policy": "cnb",
                "pending_since": None,
                "opened_at": NOW - timedelta(hours=3),
            },
        ]
    )
    tx = RecordingTransaction(table)
    uow = DecisionsNoted(tx)
    unrelated = LiftLetterLock(
        correlation_id=uuid.uuid4(),
        item_number="123456789012",
        kinds=(LockKind.code,),
        supervisor="sam",
        reason="called support",
        requested_at=NOW,
    )

    await uow.publish(decided(first, "approved"))
    await uow.publish(unrelated)
    await uow.publish(decided(second, "rejected"))

    assert len(tx.published) == 3  # every message goes on to the outbox
    assert await uow.decision_times() == [
        DecisionTime("approved", "default", 3600.0),
        DecisionTime("rejected", "cnb", 3 * 3600.0),
    ]


async def test_a_unit_of_work_without_decisions_reads_nothing() -> None:
    class NoQuery:
        async def fetch(self, *args: Any) -> list[Any]:
            raise AssertionError("no decision: nothing to read")

    uow = DecisionsNoted(RecordingTransaction(NoQuery()))

    assert await uow.decision_times() == []
