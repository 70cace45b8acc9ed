"""French by default, English by a link on every page; the choice stays with the session,
through the identity step's new session too."""

from __future__ import annotations

import re

import httpx
import pytest

from services.pickup.tests.integration.recipients import (
    RIGHT_IDENTITY,
    Pickup,
    csrf,
    deposit,
    to_identity_page,
)

pytestmark = pytest.mark.integration


def h1s(page: httpx.Response) -> list[str]:
    return re.findall(r"<h1>([^<]*)</h1>", page.text)


async def test_french_is_the_default_and_every_page_links_to_english(site: httpx.AsyncClient) -> None:
    page = await site.get("/")

    assert '<html lang="fr">' in page.text
    assert h1s(page) == ["Relevez votre courrier"]
    assert 'href="/langue/en?retour=/"' in page.text


async def test_the_switch_turns_the_site_english_and_keeps_it_through_the_identity_step(
    pickup: Pickup,
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        switched = await site.get("/langue/en", params={"retour": "/"})
        home = await site.get("/")
        wrong = await site.post("/", data={"csrf_token": csrf(home), "item_number": "12"})
        identity = await to_identity_page(site, event.item_number)
        decision = await site.post("/identite", data={"csrf_token": csrf(identity), **RIGHT_IDENTITY})
        decision = await site.get(decision.headers["location"])
        back = await site.get("/langue/fr", params={"retour": "/decision"})
        french = await site.get("/decision")

    assert switched.status_code == 303
    assert switched.headers["location"] == "/"
    assert '<html lang="en">' in home.text
    assert h1s(home) == ["Pick up your letter"]
    assert 'href="/langue/fr?retour=/"' in home.text
    assert "The item number has 12 digits." in wrong.text
    assert '<label for="last_name">Last name</label>' in identity.text
    assert h1s(decision) == ["Receiving the letter"]
    assert ">Accept</button>" in decision.text
    assert back.headers["location"] == "/decision"
    assert h1s(french) == ["Réception du courrier"]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
async def test_the_switch_never_sends_the_browser_off_the_site(site: httpx.AsyncClient, target: str) -> None:
    answer = await site.get("/langue/en", params={"retour": target})

    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
