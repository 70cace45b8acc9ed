"""The pickup site's guards, in real headless Chromium against the five running services:
a page for each state a visitor can run into (unknown number, item locked by wrong
identities, address locked out by guessed numbers, code blocked by wrong codes, forged form
token, already refused) and nothing about a letter before the identity step."""

from __future__ import annotations

import secrets

import asyncpg
import pytest
from playwright.async_api import Page, expect

from tests.browser.letters import Deposit, Visitor
from tests.browser.steps import (
    a_wrong_code,
    at,
    code_sent_to,
    enter_identity,
    enter_item_number,
    field_error,
    identify,
    open_site,
    reach_code_entry,
    type_code,
    typed_identity,
    wrong_identity,
)
from tests.support.fixtures import SmtpServer
from tests.support.running import RunningPlatform

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

MAX_IDENTITY_ATTEMPTS = 5  # PickupSettings.max_identity_attempts
MAX_ADDRESS_FAILURES = 20  # PickupSettings.max_address_failures
MAX_CODE_TRIES = 5  # the verification desk's code_max_tries


async def test_a_number_of_the_wrong_shape_is_refused_with_the_error_on_its_field(visitor: Visitor) -> None:
    walk = await visitor("")
    page = await enter_item_number(walk, "1234 56")
    await walk.see("item number, too short")

    assert "12 chiffres" in await field_error(page, "Numéro de pli")
    await expect(page.get_by_label("Numéro de pli")).to_have_value("123456")


async def test_an_unknown_number_is_refused_with_the_error_on_its_field(visitor: Visitor) -> None:
    walk = await visitor("")
    page = await enter_item_number(walk, "000000000000")
    await walk.see("item number, unknown")

    assert "Aucun pli ne porte ce numéro" in await field_error(page, "Numéro de pli")
    await expect(page).not_to_have_url(at("/identite"))


async def test_the_letter_pages_send_a_visitor_without_identity_back_to_the_start(visitor: Visitor) -> None:
    walk = await visitor("")
    page = walk.page
    for path in ("/identite", "/decision", "/courrier"):
        await page.goto(path)
        await expect(page).to_have_url(at("/"))
        await walk.see(f"{path.strip('/')}, not identified")


async def test_an_item_locks_after_five_wrong_identities_for_every_visitor(
    deposit: Deposit, visitor: Visitor
) -> None:
    letter = await deposit()
    walk = await visitor("first visitor")
    page = await enter_item_number(walk, letter.item_number)
    await expect(page).to_have_url(at("/identite"))
    await walk.see("identity")

    for attempt in range(1, MAX_IDENTITY_ATTEMPTS):
        await enter_identity(walk, wrong_identity(letter.recipient))
        await expect(page.get_by_role("alert")).to_contain_text(f"{MAX_IDENTITY_ATTEMPTS - attempt} essai")
        await walk.see(f"identity, wrong {attempt}")
    await enter_identity(walk, wrong_identity(letter.recipient))
    await walk.see("locked")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("verrouillé")

    # Another visitor with the right identity is stopped too: the lock is the item's.
    other = await visitor("second visitor")
    page = await enter_item_number(other, letter.item_number)
    await other.see("locked, other visitor")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("verrouillé")


async def test_a_tampered_form_token_is_refused_and_nothing_is_decided(
    deposit: Deposit, visitor: Visitor
) -> None:
    letter = await deposit()
    walk = await visitor("")
    page = await identify(walk, letter.item_number, letter.recipient)

    assert await submit_with_forged_token(page, "Accepter") == 403
    await walk.see("decision, token tampered")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Session expirée")

    # The letter is still undecided: a fresh visit reaches the decision page again.
    again = await visitor("after")
    page = await identify(again, letter.item_number, letter.recipient)
    await expect(page.get_by_role("button", name="Accepter")).to_be_visible()


async def test_a_tampered_token_on_the_item_number_form_is_refused(
    deposit: Deposit, visitor: Visitor
) -> None:
    letter = await deposit()
    walk = await visitor("")
    page = await open_site(walk)
    await page.get_by_label("Numéro de pli").fill(letter.item_number)
    assert await submit_with_forged_token(page, "Suivant") == 403
    await walk.see("item number, token tampered")


async def test_a_refused_letter_shows_its_refusal_on_a_later_visit(
    deposit: Deposit, visitor: Visitor
) -> None:
    letter = await deposit()
    walk = await visitor("refusing")
    page = await identify(walk, letter.item_number, letter.recipient)
    await page.get_by_role("button", name="Refuser").click()
    await walk.see("refused")

    later = await visitor("later")
    page = await enter_item_number(later, letter.item_number)
    await later.see("identity")
    await enter_identity(later, typed_identity(letter.recipient))
    await later.see("refused, later visit")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("refusé")


async def test_five_wrong_codes_block_the_code_even_for_the_right_one(
    deposit: Deposit, visitor: Visitor, platform_running: RunningPlatform, smtp: SmtpServer
) -> None:
    letter = await deposit()
    walk = await visitor("")
    page = await reach_code_entry(walk, letter, platform_running)
    code = await code_sent_to(smtp, letter.recipient.email)

    for attempt in range(1, MAX_CODE_TRIES):
        await type_code(walk, a_wrong_code(code))
        await walk.see(f"code entry, wrong {attempt}")
        assert f"{MAX_CODE_TRIES - attempt} essai" in await field_error(page, "Code de signature")
    await type_code(walk, a_wrong_code(code))
    await walk.see("code blocked")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Code bloqué")

    await page.goto("/signature/code/saisie")
    await walk.see("code entry again")
    await type_code(walk, code)
    await walk.see("code blocked, right code")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Code bloqué")


async def test_an_address_that_guesses_item_numbers_is_locked_out_even_for_a_right_number(
    deposit: Deposit, visitor: Visitor, platform_running: RunningPlatform
) -> None:
    letter = await deposit()
    walk = await visitor("")
    page = await open_site(walk)
    # The item number form's token (the banner's language switch carries the same one).
    token = await page.locator("#contenu input[name=csrf_token]").input_value()
    try:
        # Wrong guesses sent as the form would post them, in the visitor's session.
        for _ in range(MAX_ADDRESS_FAILURES):
            guess = await page.request.post(
                "/", form={"csrf_token": token, "item_number": f"{secrets.randbelow(10**12):012d}"}
            )
            if guess.status == 429:
                break
        else:
            raise AssertionError(f"no lockout after {MAX_ADDRESS_FAILURES} wrong item numbers")

        await enter_item_number(walk, letter.item_number)
        await walk.see("item number, address locked out")
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Trop d'essais infructueux")
        await expect(page).not_to_have_url(at("/identite"))
    finally:
        await forget_address_failures(platform_running)


async def test_the_first_steps_fit_a_phone_screen(deposit: Deposit, visitor: Visitor) -> None:
    letter = await deposit()
    walk = await visitor("", phone=True)  # every page seen is checked for sideways scrolling

    page = await identify(walk, letter.item_number, letter.recipient)

    accept = page.get_by_role("button", name="Accepter")
    await accept.scroll_into_view_if_needed()
    box = await accept.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box


async def test_the_site_switches_to_english_and_back(visitor: Visitor) -> None:
    walk = await visitor("")
    page = await open_site(walk)

    await page.get_by_role("button", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await walk.see("item number, english")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pick up your letter")
    await page.get_by_label("Item number").fill("12")
    await page.get_by_role("button", name="Next").click()
    await walk.see("item number, english, error")
    assert "12 digits" in await field_error(page, "Item number")

    await page.get_by_role("button", name="Français").click()
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await walk.see("item number, french again")


async def forget_address_failures(platform_running: RunningPlatform) -> None:
    """Lift this machine's lockout so the module's other tests are not locked out."""
    connection = await asyncpg.connect(platform_running.database_url("pickup"))
    try:
        await connection.execute("DELETE FROM address_failures")
    finally:
        await connection.close()


async def submit_with_forged_token(page: Page, button: str) -> int:
    """Change the form's hidden CSRF token, press `button`; the status of the answer."""
    # The form's own token: the banner's language switch and sign-out form carry one too.
    token = page.locator("#contenu input[name=csrf_token]")
    await token.evaluate("input => { input.value = 'forged-' + input.value }")
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.get_by_role("button", name=button).click()
    return (await posted.value).status
