"""French by default, English by a switch on every page; the choice stays with the session,
through the identity step's new session too. The switch changes state (the session's language
and, on a letter's pages, the letter's), so it is a posted form guarded by the CSRF token: a
link or an image on another site cannot press it."""

from __future__ import annotations

import re

import httpx
import pytest

from lre_shared.contracts import LetterDeposited, LetterLanguageChanged
from services.pickup.tests.integration.recipients import (
    RIGHT_IDENTITY,
    Pickup,
    csrf,
    deposit,
    identified,
    switch_language,
    to_identity_page,
)

pytestmark = pytest.mark.integration


def h1s(page: httpx.Response) -> list[str]:
    return re.findall(r"<h1>([^<]*)</h1>", page.text)


async def letter_language(pickup: Pickup, event: LetterDeposited) -> tuple[str, int]:
    """The letter's language, and how many language changes it has announced (the outbox
    keeps every event the site publishes, sent or not)."""
    pool = pickup.runtime.pool
    language = await pool.fetchval("SELECT language FROM letters WHERE letter_id = $1", event.correlation_id)
    announced = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE correlation_id = $1 AND routing_key = $2",
        event.correlation_id,
        LetterLanguageChanged.routing_key,
    )
    return language, announced


async def test_french_is_the_default_and_every_page_offers_english_by_a_posted_form(
    site: httpx.AsyncClient,
) -> None:
    page = await site.get("/")

    assert '<html lang="fr">' in page.text
    assert h1s(page) == ["Relevez votre courrier"]
    switch = re.search(
        r'<form class="language" method="post" action="/langue/en">(.*?)</form>', page.text, re.S
    )
    assert switch, page.text
    assert f'<input type="hidden" name="csrf_token" value="{csrf(page)}">' in switch.group(1)
    assert '<input type="hidden" name="retour" value="/">' in switch.group(1)
    assert '<button type="submit" lang="en">English</button>' in switch.group(1)
    assert "/langue/en?" not in page.text  # no link that a GET would follow


async def test_the_switch_turns_the_site_english_and_keeps_it_through_the_identity_step(
    pickup: Pickup,
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        switched = await switch_language(site, await site.get("/"), "en")
        home = await site.get("/")
        wrong = await site.post("/", data={"csrf_token": csrf(home), "item_number": "12"})
        identity = await to_identity_page(site, event.item_number)
        decision = await site.post("/identite", data={"csrf_token": csrf(identity), **RIGHT_IDENTITY})
        decision = await site.get(decision.headers["location"])
        back = await switch_language(site, decision, "fr")
        french = await site.get("/decision")

    assert switched.status_code == 303
    assert switched.headers["location"] == "/"
    assert '<html lang="en">' in home.text
    assert h1s(home) == ["Pick up your letter"]
    assert 'action="/langue/fr"' in home.text
    assert '<button type="submit" lang="fr">Français</button>' in home.text
    assert "The item number has 12 digits." in wrong.text
    assert '<label for="last_name">Last name</label>' in identity.text
    assert h1s(decision) == ["Receiving the letter"]
    assert ">Accept</button>" in decision.text
    assert back.status_code == 303
    assert back.headers["location"] == "/decision"
    assert h1s(french) == ["Réception du courrier"]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
async def test_the_switch_never_sends_the_browser_off_the_site(site: httpx.AsyncClient, target: str) -> None:
    page = await site.get("/")

    answer = await site.post("/langue/en", data={"csrf_token": csrf(page), "retour": target})

    assert answer.status_code == 303
    assert answer.headers["location"] == "/"


async def test_a_get_of_the_switch_is_refused_and_changes_neither_the_site_nor_the_letter(
    pickup: Pickup,
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await identified(site, event.item_number)
        # What an <img src> or a link on another site would send, with the visitor's cookie.
        fetched = await site.get("/langue/en", params={"retour": "/decision"})
        after = await site.get("/decision")

    assert fetched.status_code == 405
    assert fetched.headers["allow"] == "POST"
    assert "location" not in fetched.headers
    assert '<html lang="fr">' in after.text
    assert h1s(after) == ["Réception du courrier"]
    assert await letter_language(pickup, event) == ("fr", 0)


@pytest.mark.parametrize("token", ["missing", "forged", "another session's"])
async def test_a_switch_posted_without_the_pages_token_is_forbidden_and_changes_nothing(
    pickup: Pickup, token: str
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as other:
        tokens = {"missing": None, "forged": "forged", "another session's": csrf(await other.get("/"))}
    form = {"retour": "/decision"}
    if sent := tokens[token]:
        form["csrf_token"] = sent
    async with pickup.browser() as site:
        await identified(site, event.item_number)
        posted = await site.post("/langue/en", data=form)
        after = await site.get("/decision")

    assert posted.status_code == 403
    assert "location" not in posted.headers
    assert h1s(posted) == ["Session expirée"]
    assert '<html lang="fr">' in after.text
    assert h1s(after) == ["Réception du courrier"]
    assert await letter_language(pickup, event) == ("fr", 0)


async def test_the_switch_posted_with_the_pages_token_changes_the_letters_language_and_returns(
    pickup: Pickup,
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        decision = await identified(site, event.item_number)
        switched = await switch_language(site, decision, "en")
        after = await site.get(switched.headers["location"])

    assert switched.status_code == 303
    assert switched.headers["location"] == "/decision"
    assert h1s(after) == ["Receiving the letter"]
    assert await letter_language(pickup, event) == ("en", 1)
