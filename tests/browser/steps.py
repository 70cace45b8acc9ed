"""The recipient's steps on the pickup site, as a person does them in the browser."""

from __future__ import annotations

import re

from playwright.async_api import FilePayload, Page, expect

from lre_shared.contracts import Recipient
from tests.browser.desk import approve_next_case
from tests.browser.harness import Walk
from tests.browser.letters import Letter
from tests.browser.recipient_tools import identity_card_png, notice_text
from tests.support.fixtures import SmtpServer
from tests.support.running import RunningPlatform


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


async def accept(walk: Walk) -> None:
    """Accept the letter: from now on its sender may be shown (CPCE R.53-3)."""
    walk.hidden.clear()
    await walk.page.get_by_role("button", name="Accepter").click()
    await expect(walk.page).to_have_url(at("/signature"))
    await walk.see("signature method")


async def reach_code_entry(walk: Walk, letter: Letter, platform: RunningPlatform) -> Page:
    """Identify, accept, ask for a one-time code by email, upload an identity card (seen in
    its preview); the desk approves; the waiting page moves on to the code entry by itself."""
    page = await identify(walk, letter.item_number, letter.recipient)
    await accept(walk)
    await page.get_by_role("link", name="Demander un code").click()
    await expect(page).to_have_url(at("/signature/code"))
    await walk.see("code request")
    await page.get_by_label(re.compile("Comment transmettez-vous")).select_option("upload")
    await page.get_by_label(re.compile("Comment souhaitez-vous recevoir")).select_option("email")
    await page.get_by_role("button", name="OK").click()

    await expect(page).to_have_url(at("/signature/code/justificatifs"))
    await walk.see("identity document")
    await page.get_by_label("Justificatif d'identité").set_input_files(
        FilePayload(name="carte-identite.png", mimeType="image/png", buffer=identity_card_png())
    )
    await expect(page.get_by_role("img", name="carte-identite.png")).to_be_visible()  # the preview
    await walk.see("identity document, preview")
    await page.get_by_role("button", name="Envoyer le justificatif").click()
    await expect(page).to_have_url(at("/signature/code/attente"))
    await walk.see("waiting for the desk")

    await approve_next_case(platform, letter.item_number)
    await expect(page).to_have_url(at("/signature/code/saisie"), timeout=30_000)
    await walk.see("code entry")
    return page


async def code_sent_to(smtp: SmtpServer, address: str) -> str:
    """The one-time code in the email the notifier sent to `address` (not the confirmation of
    the request, which comes first)."""
    mail = await smtp.store.wait_for_async(
        lambda m: m["To"] == address and CODE.search(notice_text(m)) is not None, timeout=60
    )
    found = CODE.search(notice_text(mail))
    assert found, notice_text(mail)
    return found.group(1)


CODE = re.compile(r"Votre code de signature : (\d{6,8})")


def a_wrong_code(code: str) -> str:
    return "".join(str((int(digit) + 1) % 10) for digit in code)


async def type_code(walk: Walk, code: str) -> Page:
    await walk.page.get_by_label("Code de signature").fill(code)
    await walk.page.get_by_role("button", name="Signer", exact=True).click()
    return walk.page
