"""Wrong identities hold an item for a while, never for good: the hold ends after its delay,
a stranger's wrong answers hold only the stranger's address, and a supervisor lifts a hold
from the verification desk, over the bus, at once (pickup.domain.locks)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from deploy.local.seaweed import SeaweedS3
from lre_shared.contracts import LetterLockLifted, LockKind
from services.pickup.tests.integration.recipients import (
    RIGHT_IDENTITY,
    WRONG_IDENTITY,
    Pickup,
    csrf,
    deposit,
    to_identity_page,
)
from services.verification.tests.integration.conftest import RunningDesk, started_desk
from tests.support.bus import Probe, eventually

pytestmark = pytest.mark.integration

RECIPIENT = "198.51.100.20"
STRANGER = "203.0.113.7"


async def wrong_identities(site: httpx.AsyncClient, item_number: str, count: int) -> httpx.Response:
    page = await to_identity_page(site, item_number)
    for _ in range(count):
        page = await site.post("/identite", data={"csrf_token": csrf(page), **WRONG_IDENTITY})
    return page


async def right_identity(site: httpx.AsyncClient, item_number: str) -> httpx.Response:
    page = await to_identity_page(site, item_number)
    return await site.post("/identite", data={"csrf_token": csrf(page), **RIGHT_IDENTITY})


async def test_a_hold_ends_after_its_delay_and_the_right_identity_then_opens_the_letter(
    pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    async with pickup.browser(RECIPIENT) as site:
        held = await wrong_identities(site, event.item_number, pickup.settings.max_identity_attempts)
        still = await right_identity(site, event.item_number)
        pickup.clock.move(timedelta(minutes=16))
        after = await right_identity(site, event.item_number)

    assert held.status_code == 429
    assert "Pli verrouillé" in held.text
    assert "verrouillé jusqu&#39;au" in held.text  # the page says until when
    assert still.status_code == 429
    assert after.status_code == 303
    assert after.headers["location"] == "/decision"


async def test_a_strangers_wrong_identities_from_another_address_do_not_keep_the_recipient_out(
    pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    async with pickup.browser(STRANGER) as stranger, pickup.browser(RECIPIENT) as recipient:
        held = await wrong_identities(stranger, event.item_number, pickup.settings.max_identity_attempts)
        again = await right_identity(stranger, event.item_number)
        answer = await right_identity(recipient, event.item_number)

    assert held.status_code == 429
    assert again.status_code == 429  # the stranger's address is held, even with the right answer
    assert answer.status_code == 303
    assert answer.headers["location"] == "/decision"


@pytest.fixture
async def desk(
    amqp_url: str, postgres_server: str, db_prefix: str, s3: SeaweedS3, tmp_path: Path
) -> AsyncIterator[RunningDesk]:
    """The real verification desk, with a database of its own, on the pickup's bus."""
    database_url = f"{postgres_server}/{db_prefix}_{uuid.uuid4().hex[:8]}"
    async with started_desk(amqp_url, database_url, s3, tmp_path / "desk-keys") as running_desk:
        yield running_desk


async def test_a_supervisor_lifts_the_hold_from_the_desk_and_the_item_works_again(
    pickup: Pickup, desk: RunningDesk, probe: Probe, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)

    async def desk_knows_the_letter() -> bool:
        return bool(
            await desk.pool.fetchval("SELECT 1 FROM letters WHERE letter_id = $1", event.correlation_id)
        )

    await eventually(desk_knows_the_letter)
    # Three addresses held: the item is held for everyone.
    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        async with pickup.browser(address) as stranger:
            await wrong_identities(stranger, event.item_number, pickup.settings.max_identity_attempts)
    async with pickup.browser(RECIPIENT) as recipient:
        before = await to_identity_page(recipient, event.item_number)
    assert before.status_code == 429

    reason = "the recipient called; identity checked by phone"
    path = f"/desk/api/letters/{event.item_number}/lock/lift"
    by_agent = await desk.http.post(path, json={"reason": reason}, headers=desk.auth("bob"))
    lifted = await desk.http.post(path, json={"reason": reason}, headers=desk.auth("carol", ("supervisor",)))
    assert by_agent.status_code == 403
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["kinds"] == ["identity", "code"]

    async def the_item_opens() -> bool:
        async with pickup.browser(RECIPIENT) as recipient:
            return (await to_identity_page(recipient, event.item_number)).status_code == 200

    await eventually(the_item_opens)
    async with pickup.browser(RECIPIENT) as recipient:
        answer = await right_identity(recipient, event.item_number)
    assert answer.headers["location"] == "/decision"

    message = await probe.wait_for(LetterLockLifted.routing_key, event.correlation_id)
    announced = LetterLockLifted.model_validate_json(message.body)
    assert announced.supervisor == "carol"
    assert announced.reason == reason
    assert announced.kinds == (LockKind.identity, LockKind.code)
    assert announced.locked_until is not None
    audit = await desk.http.get(
        f"/desk/api/letters/{event.item_number}/audit", headers=desk.auth("carol", ("supervisor",))
    )
    assert [(e["actor"], e["action"], e["detail"]["reason"]) for e in audit.json()["events"]] == [
        ("carol", "lock_lifted", reason)
    ]
