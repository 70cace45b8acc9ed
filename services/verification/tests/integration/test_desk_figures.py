"""The desk's figures for Prometheus on the real parts (PostgreSQL, RabbitMQ, SeaweedFS): the
queue read from the database (what every replica shows alike), and each agent's decision
timed from the documents' arrival once its transaction has committed, as `/metrics` serves
them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lre_shared import metrics
from services.verification.tests.integration.test_desk_cases import CNB_CHECKLIST, case_with_document, claim
from verification.adapters import gauges
from verification.service_layer import desk as desk_use_cases
from verification.service_layer.desk import Agent

pytestmark = pytest.mark.integration

DECISION = "lre_verification_decision_seconds"


def scraped() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the process, as its /metrics answers."""
    body, _ = metrics.exposition()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def decide(
    desk: Any, case_id: str, outcome: str, reason: str | None = None, agent: str = "alice"
) -> None:
    response = await desk.http.post(
        f"/desk/api/cases/{case_id}/decision",
        json={"outcome": outcome, "reason": reason},
        headers=desk.auth(agent),
    )
    assert response.status_code == 200, response.text


async def test_the_queue_is_counted_by_state_and_policy_with_its_oldest_waits(desk: Any, files: Any) -> None:
    await case_with_document(desk, files)  # 09:00, default: claimed below, still undecided
    desk.clock.advance(timedelta(minutes=10))
    await case_with_document(desk, files, policy="cnb")  # 09:10, cnb: waits for an agent
    letter = await desk.deposit("cnb")
    await desk.open_case(letter)  # no documents yet: waits on the recipient, not the desk
    await claim(desk)
    desk.clock.advance(timedelta(minutes=50))

    await gauges.measure(desk.pool, desk.clock())

    samples = scraped()
    cases = "lre_verification_cases"
    assert value(samples, cases, state="in_review", policy="default") == 1
    assert value(samples, cases, state="pending", policy="cnb") == 1
    assert value(samples, cases, state="awaiting_documents", policy="cnb") == 1
    assert value(samples, cases, state="pending", policy="default") == 0
    assert value(samples, cases, state="more_documents", policy="cnb") == 0
    # The unclaimed case arrived at 09:10; the claimed one, still undecided, at 09:00.
    assert value(samples, "lre_verification_oldest_waiting_seconds") == 50 * 60
    assert value(samples, "lre_verification_oldest_undecided_seconds") == 60 * 60


async def test_decided_cases_leave_the_queue_and_an_empty_queue_waits_zero(desk: Any, files: Any) -> None:
    _, case_id = await case_with_document(desk, files)
    await claim(desk)
    await decide(desk, str(case_id), "rejected", "photo unreadable")
    desk.clock.advance(timedelta(hours=3))

    await gauges.measure(desk.pool, desk.clock())

    samples = scraped()
    assert all(
        value(samples, "lre_verification_cases", state=state, policy=policy) == 0
        for state in gauges.OPEN_STATES
        for policy in gauges.POLICIES
    )
    assert value(samples, "lre_verification_oldest_waiting_seconds") == 0
    assert value(samples, "lre_verification_oldest_undecided_seconds") == 0


async def test_each_decision_is_timed_from_the_documents_arrival_by_outcome_and_policy(
    desk: Any, files: Any
) -> None:
    before = scraped()
    _, rejected = await case_with_document(desk, files)  # documents in at 09:00
    _, approved = await case_with_document(desk, files, policy="cnb")  # and at 09:00
    desk.clock.advance(timedelta(minutes=40))
    assert (await claim(desk, "alice"))["case_id"] == str(rejected)
    assert (await claim(desk, "bob"))["case_id"] == str(approved)
    desk.clock.advance(timedelta(minutes=5))
    await decide(desk, str(rejected), "rejected", "photo unreadable")  # 45 minutes after
    desk.clock.advance(timedelta(hours=2))
    path = f"/desk/api/cases/{approved}/checklist"
    saved = await desk.http.put(path, json={"items": CNB_CHECKLIST}, headers=desk.auth("bob"))
    assert saved.status_code == 200, saved.text
    await decide(desk, str(approved), "approved", agent="bob")  # 2 h 45 after

    after = scraped()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew(DECISION + "_count", outcome="rejected", policy="default") == 1
    assert grew(DECISION + "_sum", outcome="rejected", policy="default") == 45 * 60
    assert grew(DECISION + "_bucket", outcome="rejected", policy="default", le="1800.0") == 0
    assert grew(DECISION + "_bucket", outcome="rejected", policy="default", le="2700.0") == 1
    assert grew(DECISION + "_count", outcome="approved", policy="cnb") == 1
    assert grew(DECISION + "_sum", outcome="approved", policy="cnb") == 165 * 60
    assert grew(DECISION + "_bucket", outcome="approved", policy="cnb", le="7200.0") == 0
    assert grew(DECISION + "_bucket", outcome="approved", policy="cnb", le="10800.0") == 1
    assert grew(DECISION + "_count", outcome="approved", policy="default") == 0


async def test_after_more_documents_the_next_decision_is_timed_from_the_new_documents(
    desk: Any, files: Any
) -> None:
    from lre_shared.contracts import AddIdentityDocument, IdentityDocumentAdded

    letter, case_id = await case_with_document(desk, files)
    await claim(desk)
    desk.clock.advance(timedelta(minutes=20))
    before = scraped()
    await decide(desk, str(case_id), "more_documents", "le verso de la carte")
    desk.clock.advance(timedelta(days=1))  # the recipient takes a day: no wait of the desk
    added = await desk.ask(
        AddIdentityDocument(
            correlation_id=letter.correlation_id, case_id=case_id, filename="verso.png", content=files.png
        ),
        IdentityDocumentAdded,
    )
    assert added.accepted, added.reason
    await claim(desk)
    desk.clock.advance(timedelta(minutes=10))
    await decide(desk, str(case_id), "rejected", "not the recipient")

    after = scraped()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew(DECISION + "_sum", outcome="more_documents", policy="default") == 20 * 60
    assert grew(DECISION + "_sum", outcome="rejected", policy="default") == 10 * 60


async def test_a_decision_whose_transaction_rolls_back_is_not_timed(desk: Any, files: Any) -> None:
    _, case_id = await case_with_document(desk, files)
    await claim(desk)
    desk.clock.advance(timedelta(minutes=30))
    before = scraped()

    async def decide_then_lose_the_connection() -> None:
        async with desk.desk.api.transactions() as uow:
            await desk_use_cases.decide(
                uow,
                case_id,
                Agent("alice", supervisor=False),
                "rejected",
                "photo unreadable",
                settings=desk.desk.settings,
                now=desk.clock(),
            )
            raise RuntimeError("connection lost")  # before the commit

    with pytest.raises(RuntimeError, match="connection lost"):
        await decide_then_lose_the_connection()

    after = scraped()
    assert value(after, DECISION + "_count", outcome="rejected", policy="default") == value(
        before, DECISION + "_count", outcome="rejected", policy="default"
    )
    state = await desk.pool.fetchval("SELECT state FROM cases WHERE case_id = $1", case_id)
    assert state == "in_review"
