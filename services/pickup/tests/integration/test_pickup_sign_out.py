"""Signing out: offered on every page past the item number, in the page's language, and
ending the session on the server, so that a copy of the cookie kept from before (a shared
computer, a stolen cookie) no longer reaches the letter."""

from __future__ import annotations

import pytest

from services.pickup.tests.integration.recipients import (
    RIGHT_IDENTITY,
    Pickup,
    accepted,
    csrf,
    deposit,
    switch_language,
    to_identity_page,
)

pytestmark = pytest.mark.integration

COOKIE = "lre-session"
SIGN_OUT_FORM = '<form class="sign-out" method="post" action="/deconnexion">'


async def test_after_signing_out_the_old_cookie_replayed_lands_on_the_start_page(pickup: Pickup) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        page = await accepted(site, event.item_number)
        kept = site.cookies[COOKIE]
        assert (await site.get("/decision")).headers["location"] == "/signature"  # the copy works now

        signed_out = await site.post("/deconnexion", data={"csrf_token": csrf(page)})
        start = await site.get("/")

    async with pickup.browser() as thief:
        thief.cookies.set(COOKIE, kept)
        replayed = [await thief.get(path) for path in ("/signature", "/decision", "/courrier")]
        start_page = await thief.get("/")

    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/"
    assert "Vous êtes déconnecté." in start.text
    assert [(r.status_code, r.headers.get("location")) for r in replayed] == [(303, "/")] * 3
    assert "<h1>Relevez votre courrier</h1>" in start_page.text
    assert SIGN_OUT_FORM not in start_page.text


async def test_the_sign_out_form_is_on_every_page_past_the_item_number_in_the_pages_language(
    pickup: Pickup,
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        start = await site.get("/")
        identity = await to_identity_page(site, event.item_number)
        await switch_language(site, identity, "en")
        identity_en = await site.get("/identite")

    assert SIGN_OUT_FORM not in start.text
    for page, label in ((identity, "Se déconnecter"), (identity_en, "Sign out")):
        form = page.text.split(SIGN_OUT_FORM, 1)[1].split("</form>", 1)[0]
        assert f'name="csrf_token" value="{csrf(page)}"' in form
        assert f'<button type="submit">{label}</button>' in form


async def test_signing_out_without_the_forms_token_ends_nothing(pickup: Pickup) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await accepted(site, event.item_number)
        forged = await site.post("/deconnexion", data={"csrf_token": "forged"})
        still = await site.get("/decision")

    assert forged.status_code == 403
    assert still.headers["location"] == "/signature"


async def test_a_new_session_id_at_identification_ends_the_one_from_the_item_number_step(
    pickup: Pickup,
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await to_identity_page(site, event.item_number)
        before = site.cookies[COOKIE]
        page = await site.get("/identite")
        identified = await site.post("/identite", data={"csrf_token": csrf(page), **RIGHT_IDENTITY})
        assert identified.headers["location"] == "/decision"

    async with pickup.browser() as other:
        other.cookies.set(COOKIE, before)
        replayed = await other.get("/identite")

    assert (replayed.status_code, replayed.headers.get("location")) == (303, "/")
