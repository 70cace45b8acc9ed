"""The webhook records on a real PostgreSQL: replicas claiming at once share the due deliveries
without overlap, an attempt is counted before the call, a claim left by a replica that died
expires, and a failure past the schedule is failed for good."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from archive.adapters.webhook_secrets import SecretBox
from archive.adapters.webhooks import PgWebhooks, webhook_units
from archive.bootstrap import MIGRATIONS
from archive.service_layer.webhooks import Attempt
from lre_shared import db
from lre_shared.contracts import SenderEvent, SenderEventKind

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SECRET = "whsec_" + "A" * 32 + "=="
BOX = SecretBox("k" * 32)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(database_url, MIGRATIONS)
    opened = await db.create_pool(database_url, 6)
    try:
        yield opened
    finally:
        await opened.close()


def event(sender_id: str = "acme") -> SenderEvent:
    return SenderEvent(
        correlation_id=uuid4(),
        sender_id=sender_id,
        event=SenderEventKind.deposited,
        sequence=1,
        item_number="1A00000000017",
        event_time=NOW,
    )


async def test_replicas_claiming_at_once_never_take_the_same_delivery(pool: asyncpg.Pool) -> None:
    store = PgWebhooks(pool, BOX)
    await store.save_endpoint("acme", "https://erp.acme.example/lre", SECRET, NOW)
    for _ in range(60):
        sent = event()
        await store.add_delivery(sent, sent.to_json(), NOW)
    units = webhook_units(lambda: pool, BOX)

    async def replica() -> list[str]:
        async with units() as unit:
            claimed = await unit.claim_due(NOW, 25, timedelta(seconds=40))
            await asyncio.sleep(0.2)  # the lock is held while the others claim
            return [str(d.event_id) for d in claimed]

    claims = await asyncio.gather(*(replica() for _ in range(4)))
    every = [event_id for claimed in claims for event_id in claimed]
    assert len(every) == len(set(every)) == 60
    async with units() as unit:
        assert await unit.claim_due(NOW, 25, timedelta(seconds=40)) == []  # all held


async def test_an_attempt_is_counted_before_the_call_and_its_claim_expires(pool: asyncpg.Pool) -> None:
    store = PgWebhooks(pool, BOX)
    await store.save_endpoint("acme", "https://erp.acme.example/lre", SECRET, NOW)
    sent = event()
    await store.add_delivery(sent, sent.to_json(), NOW)
    assert await store.add_delivery(sent, sent.to_json(), NOW) is False
    (first,) = await store.claim_due(NOW, 10, timedelta(seconds=40))
    assert first.attempts == 1
    assert first.body == sent.to_json()
    assert await store.claim_due(NOW + timedelta(seconds=39), 10, timedelta(seconds=40)) == []
    (again,) = await store.claim_due(NOW + timedelta(seconds=41), 10, timedelta(seconds=40))
    assert again.attempts == 2
    (logged,) = await store.log("acme", 10)
    assert logged.attempts == 2
    assert logged.delivered_at is None


async def test_failures_are_logged_then_failed_for_good_and_a_success_is_final(pool: asyncpg.Pool) -> None:
    store = PgWebhooks(pool, BOX)
    await store.save_endpoint("acme", "https://erp.acme.example/lre", SECRET, NOW)
    failing, passing = event(), event()
    for sent in (failing, passing):
        await store.add_delivery(sent, sent.to_json(), NOW)
    await store.claim_due(NOW, 10, timedelta(seconds=40))
    later = NOW + timedelta(seconds=1)
    await store.record_failure("acme", failing.message_id, Attempt(503, None, "busy"), later, NOW)
    await store.record_delivered("acme", passing.message_id, 204, NOW)
    await store.record_failure("acme", passing.message_id, Attempt(None, "late"), later, NOW)
    logged = {d.event_id: d for d in await store.log("acme", 10)}
    assert logged[failing.message_id].last_error == "HTTP 503: busy"
    assert logged[failing.message_id].next_attempt_at == later
    assert logged[passing.message_id].delivered_at == NOW
    assert logged[passing.message_id].next_attempt_at is None
    assert await store.oldest_pending() == NOW

    await store.record_failure("acme", failing.message_id, Attempt(None, "ConnectError"), None, later)
    (failed,) = [d for d in await store.log("acme", 10) if d.event_id == failing.message_id]
    assert failed.failed_at == later
    assert failed.next_attempt_at is None
    assert await store.oldest_pending() is None


async def test_a_removed_endpoint_fails_what_was_pending_and_a_new_one_starts_with_its_secret(
    pool: asyncpg.Pool,
) -> None:
    store = PgWebhooks(pool, BOX)
    assert await store.save_endpoint("acme", "https://a.example/", SECRET, NOW) is True
    assert await store.save_endpoint("acme", "https://b.example/", "whsec_other", NOW) is False
    endpoint = await store.endpoint("acme")
    assert endpoint is not None
    assert (endpoint.url, endpoint.secret) == ("https://b.example/", SECRET)
    sent = event()
    await store.add_delivery(sent, sent.to_json(), NOW)
    assert await store.remove_endpoint("acme", NOW) is True
    (logged,) = await store.log("acme", 10)
    assert logged.last_error == "endpoint removed"
    assert logged.failed_at == NOW
    assert await store.claim_due(NOW, 10, timedelta(seconds=40)) == []
