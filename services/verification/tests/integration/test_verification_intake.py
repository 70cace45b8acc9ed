"""The verification desk in-process on the real parts (RabbitMQ, PostgreSQL): it remembers
each deposited letter's verification policy and recipient."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from lre_shared.contracts import LetterDeposited, StoredDocument, now_utc
from lre_shared.runtime import ServiceRuntime
from tests.support.bus import eventually, publish

pytestmark = pytest.mark.integration


@pytest.fixture
def verification(desk: Any) -> ServiceRuntime:
    runtime: ServiceRuntime = desk.desk.runtime
    return runtime


def deposited(policy: str = "cnb") -> LetterDeposited:
    return LetterDeposited.model_validate(
        {
            "correlation_id": uuid.uuid4(),
            "item_number": f"{uuid.uuid4().int % 10**12:012d}",
            "sender": DEMO_SENDER,
            "recipient": DEMO_RECIPIENT,
            "documents": (
                StoredDocument(
                    document_id=uuid.uuid4(), filename="mise-en-demeure.pdf", size=1234, sha256="c" * 64
                ),
            ),
            "verification_policy": policy,
            "deposited_at": now_utc(),
        }
    )


async def letters(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT letter_id, item_number, policy, recipient_name, recipient_company FROM letters"
        )
    )


async def test_a_letter_deposited_under_the_cnb_policy_is_kept_with_that_policy_and_its_recipient(
    verification: ServiceRuntime, amqp_url: str
) -> None:
    event = deposited("cnb")

    await publish(amqp_url, event)
    await eventually(lambda: verification.bus.stats.handled >= 1)

    rows = await letters(verification.pool)
    assert len(rows) == 1
    row = rows[0]
    assert row["letter_id"] == event.correlation_id
    assert row["item_number"] == event.item_number
    assert row["policy"] == "cnb"
    assert row["recipient_name"] == f"{DEMO_RECIPIENT.first_name} {DEMO_RECIPIENT.last_name}"
    assert row["recipient_company"] == DEMO_RECIPIENT.company


async def test_a_letter_deposited_twice_is_kept_once(verification: ServiceRuntime, amqp_url: str) -> None:
    event = deposited("cnb")

    await publish(amqp_url, event)
    await publish(amqp_url, event)
    stats = verification.bus.stats
    await eventually(lambda: stats.handled + stats.duplicates >= 2)

    assert stats.duplicates == 1
    rows = await letters(verification.pool)
    assert [(r["letter_id"], r["policy"]) for r in rows] == [(event.correlation_id, "cnb")]


async def test_a_second_deposit_event_for_the_same_letter_keeps_the_first_policy(
    verification: ServiceRuntime, amqp_url: str
) -> None:
    event = deposited("cnb")
    # The same letter announced again under a new message id (e.g. replayed by an operator).
    replay = event.model_copy(update={"message_id": uuid.uuid4(), "verification_policy": "default"})

    await publish(amqp_url, event)
    await eventually(lambda: verification.bus.stats.handled >= 1)
    await publish(amqp_url, replay)
    await eventually(lambda: verification.bus.stats.handled >= 2)

    assert verification.bus.stats.dead_lettered == 0
    rows = await letters(verification.pool)
    assert [(r["letter_id"], r["policy"]) for r in rows] == [(event.correlation_id, "cnb")]


async def test_a_letter_deposited_under_the_default_policy_is_kept_as_default(
    verification: ServiceRuntime, amqp_url: str
) -> None:
    event = deposited("default")

    await publish(amqp_url, event)
    await eventually(lambda: verification.bus.stats.handled >= 1)

    assert [r["policy"] for r in await letters(verification.pool)] == ["default"]
