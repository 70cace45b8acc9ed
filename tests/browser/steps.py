"""The recipient's steps on the pickup site, as a person does them in the browser."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from lre_shared.messages import Recipient
from tests.browser.harness import Walk


def at(path: str) -> re.Pattern[str]:
    """The site's page at `path`, whatever the query string."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


def typed_identity(recipient: Recipient) -> dict[str, str]:
    """The identity as a person types it: other case, no accents, abbreviations."""
    return {
        "company": (recipient.company or "").upper().replace("É", "E"),
        "last_name": recipient.last_name.upper(),
        "first_name": recipient.first_name.lower(),
        "address": recipient.address.replace("avenue", "av.").replace("é", "e"),
        "postcode": recipient.postcode,
        "city": recipient.city.upper(),
    }


def wrong_identity(recipient: Recipient) -> dict[str, str]:
    return typed_identity(recipient) | {"last_name": "Dupont"}


async def open_site(walk: Walk) -> Page:
    await walk.page.goto("/")
    await walk.see("item number")
    return walk.page


async def enter_item_number(walk: Walk, item_number: str) -> Page:
    page = await open_site(walk)
    await page.get_by_label("Numéro de pli").fill(item_number)
    await page.get_by_role("button", name="Suivant").click()
    return page


async def enter_identity(walk: Walk, identity: dict[str, str]) -> Page:
    page = walk.page
    # Fields by name; axe checks that each has its label.
    for name, value in identity.items():
        await page.locator(f"input[name={name}]").fill(value)
    await page.get_by_role("button", name="Relever le pli").click()
    return page


async def identify(walk: Walk, item_number: str, recipient: Recipient) -> Page:
    """Item number and the right identity: the visitor reaches the decision page."""
    page = await enter_item_number(walk, item_number)
    await expect(page).to_have_url(at("/identite"))
    await walk.see("identity")
    await enter_identity(walk, typed_identity(recipient))
    await expect(page).to_have_url(at("/decision"))
    await walk.see("decision")
    return page


async def field_error(page: Page, label: str) -> str:
    """The error message tied to a field (aria-invalid, and aria-describedby naming it)."""
    field = page.get_by_label(label, exact=True)
    await expect(field).to_have_attribute("aria-invalid", "true")
    described_by = (await field.get_attribute("aria-describedby") or "").split()
    errors = [await page.locator(f"#{i}").inner_text() for i in described_by if i.endswith("-error")]
    assert errors, f"the error of {label} is not tied to the field"
    return errors[0]
