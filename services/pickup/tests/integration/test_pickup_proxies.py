"""Behind a reverse proxy (the Kubernetes ingress controller) every request comes from the
proxy's address: the site tells visitors apart by the X-Forwarded-For the trusted proxy
writes, reading its right-most address that is not a trusted proxy, the one the proxy saw.
Anything to the left of it is what the client sent and proves nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.pickup.tests.integration.recipients import Pickup, csrf, deposit, started_pickup
from tests.support.bus import Probe

pytestmark = pytest.mark.integration

PROXY = "127.0.0.1"  # the ingress controller, as the site sees it
VISITOR_A = "203.0.113.7"
VISITOR_B = "198.51.100.20"
ALLOWANCE = 3


@pytest.fixture
async def behind_proxy(amqp_url: str, database_url: str, probe: Probe) -> AsyncIterator[Pickup]:
    async with started_pickup(
        amqp_url, database_url, max_address_failures=ALLOWANCE, trusted_proxies=(PROXY,)
    ) as running_pickup:
        yield running_pickup


def through_proxy(pickup: Pickup, visitor: str) -> httpx.AsyncClient:
    """A visitor's browser reaching the site through the proxy, which adds their address."""
    return pickup.browser(PROXY, headers={"x-forwarded-for": visitor})


async def item_number(site: httpx.AsyncClient, typed: str, forwarded: str | None = None) -> httpx.Response:
    headers = {"x-forwarded-for": forwarded} if forwarded else None
    page = await site.get("/", headers=headers)
    return await site.post("/", data={"csrf_token": csrf(page), "item_number": typed}, headers=headers)


async def test_visitors_behind_one_trusted_proxy_are_limited_separately(behind_proxy: Pickup) -> None:
    event = await deposit(behind_proxy.amqp_url, behind_proxy)
    async with through_proxy(behind_proxy, VISITOR_A) as a, through_proxy(behind_proxy, VISITOR_B) as b:
        statuses = [(await item_number(a, "000000000000")).status_code for _ in range(ALLOWANCE)]
        locked = await item_number(a, event.item_number)
        wrong = await item_number(b, "000000000000")
        right = await item_number(b, event.item_number)

    assert statuses == [422] * (ALLOWANCE - 1) + [429]
    assert locked.status_code == 429
    assert "depuis votre connexion" in locked.text
    assert wrong.status_code == 422  # the normal page, with its error, not the lockout
    assert "Aucun pli ne porte ce numéro" in wrong.text
    assert right.headers.get("location") == "/identite"


async def test_a_forged_left_most_address_gives_no_fresh_allowance(behind_proxy: Pickup) -> None:
    event = await deposit(behind_proxy.amqp_url, behind_proxy)
    async with behind_proxy.browser(PROXY) as attacker:
        # The attacker sends its own X-Forwarded-For, a new address each time; the proxy
        # appends the address it really sees.
        statuses = [
            (await item_number(attacker, "000000000000", f"192.0.2.{n}, {VISITOR_A}")).status_code
            for n in range(ALLOWANCE)
        ]
        locked = await item_number(attacker, event.item_number, f"192.0.2.99, {VISITOR_A}")

    assert statuses == [422] * (ALLOWANCE - 1) + [429]
    assert locked.status_code == 429
    rows = await behind_proxy.runtime.pool.fetch("SELECT address FROM address_failures")
    assert [r["address"] for r in rows] == [VISITOR_A]
