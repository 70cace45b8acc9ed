"""A letter nobody accepted or refused in time becomes unclaimed (non réclamée, CPCE R.53-3;
ETSI EN 319 522 AcceptanceRejectionExpiry): the sweeper, on the service's clock moved past
the window, marks it and announces it once, at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from lre_shared.contracts import LetterUnclaimed, now_utc
from lre_shared.rules import FR_LRE
from pickup.adapters.postgres import storage_on
from pickup.service_layer import unclaimed
from services.pickup.tests.integration.recipients import (
    Pickup,
    deposit,
    identified,
    record_notice,
    started_pickup,
    wait_for_row,
)
from tests.support.bus import Probe

pytestmark = pytest.mark.integration


@pytest.fixture
async def sweeping(amqp_url: str, database_url: str, probe: Probe) -> AsyncIterator[Pickup]:
    async with started_pickup(amqp_url, database_url, unclaimed_sweep_seconds=0.1) as running_pickup:
        yield running_pickup


async def test_past_the_window_the_sweeper_marks_the_letter_unclaimed_and_tells_the_sender_once(
    sweeping: Pickup, probe: Probe
) -> None:
    event = await deposit(sweeping.amqp_url, sweeping)
    notified_at = now_utc()
    await record_notice(sweeping.amqp_url, sweeping, event, notified_at)
    never_notified = await deposit(sweeping.amqp_url, sweeping)
    await asyncio.sleep(0.5)  # several sweeps inside the window: nothing happens
    assert not probe.of(LetterUnclaimed.routing_key, event.correlation_id)

    sweeping.clock.move(timedelta(days=16, hours=1))
    message = await probe.wait_for(LetterUnclaimed.routing_key, event.correlation_id)
    # More sweeps, and two more at once, as replicas or a restart would run them.
    await asyncio.gather(
        unclaimed.sweep(storage_on(sweeping.runtime.pool), rules=FR_LRE, clock=sweeping.clock),
        unclaimed.sweep(storage_on(sweeping.runtime.pool), rules=FR_LRE, clock=sweeping.clock),
    )
    await asyncio.sleep(1.0)

    announced = LetterUnclaimed.model_validate_json(message.body)
    assert announced.item_number == event.item_number
    assert announced.window_closed_at == FR_LRE.window_closes_at(FR_LRE.acceptance_deadline(notified_at))
    assert len(probe.of(LetterUnclaimed.routing_key, event.correlation_id)) == 1
    row = await sweeping.runtime.pool.fetchrow(
        "SELECT state, unclaimed_at FROM letters WHERE letter_id = $1", event.correlation_id
    )
    assert row["state"] == "unclaimed"
    assert row["unclaimed_at"] >= announced.window_closed_at
    # The recipient was never told of the other letter: it has no window to miss.
    assert not probe.of(LetterUnclaimed.routing_key, never_notified.correlation_id)
    await wait_for_row(sweeping, f"letter_id = '{never_notified.correlation_id}' AND state = 'awaiting'")


async def test_the_sweeper_restarted_does_not_announce_a_letter_twice(
    amqp_url: str, database_url: str, probe: Probe
) -> None:
    async with started_pickup(amqp_url, database_url, unclaimed_sweep_seconds=0.1) as first:
        event = await deposit(amqp_url, first)
        await record_notice(amqp_url, first, event, now_utc() - timedelta(days=17))
        await probe.wait_for(LetterUnclaimed.routing_key, event.correlation_id)
    async with started_pickup(amqp_url, database_url, unclaimed_sweep_seconds=0.1):
        await asyncio.sleep(1.0)

    assert len(probe.of(LetterUnclaimed.routing_key, event.correlation_id)) == 1


async def test_the_recipient_of_an_unclaimed_letter_sees_the_unclaimed_page(sweeping: Pickup) -> None:
    event = await deposit(sweeping.amqp_url, sweeping)
    await record_notice(sweeping.amqp_url, sweeping, event, now_utc() - timedelta(days=17))
    await wait_for_row(sweeping, f"letter_id = '{event.correlation_id}' AND state = 'unclaimed'")
    async with sweeping.browser() as site:
        page = await identified(site, event.item_number)

    assert "<h1>Courrier non réclamé</h1>" in page.text
    assert 'name="decision"' not in page.text
    assert event.sender.name not in page.text
