"""The recipient's journey on the pickup site, in real headless Chromium, against the five
running services: the notice read from the SMTP server, the item number typed, the
identity (once wrong, then right), the decision, and what follows it."""

from __future__ import annotations

import pytest
from playwright.async_api import FilePayload, Locator, Page, expect

from tests.browser.conftest import Deposit, Visitor, notice_text
from tests.browser.harness import Walk
from tests.browser.recipient_tools import sign_with_certificate
from tests.browser.steps import (
    at,
    enter_identity,
    enter_item_number,
    field_error,
    open_site,
    typed_identity,
    wrong_identity,
)
from tests.support.pki import TestPki

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


async def test_recipient_accepts_signs_with_a_certificate_and_downloads_every_file(
    deposit: Deposit, visitor: Visitor, test_pki: TestPki
) -> None:
    letter = await deposit(attachments=1)
    # CPCE R.53-3: the notice never names the sender.
    assert letter.sender.name not in letter.notice.as_string()
    walk = await visitor("")
    page = walk.page

    await enter_item_number(walk, letter.item_number)
    await expect(page).to_have_url(at("/identite"))
    await walk.see("identity")
    assert letter.sender.name not in await page.content()

    await enter_identity(walk, wrong_identity(letter.recipient))
    await expect(page.get_by_role("alert")).to_contain_text("ne correspondent pas")
    await expect(page.get_by_role("alert")).to_contain_text("4 essai")
    await walk.see("identity, wrong")
    assert letter.sender.name not in await page.content()

    await enter_identity(walk, typed_identity(letter.recipient))
    await expect(page).to_have_url(at("/decision"))
    await walk.see("decision")
    await expect(page.get_by_text(letter.item_number)).to_be_visible()
    assert letter.sender.name not in await page.content()

    await page.get_by_role("button", name="Accepter").click()
    await expect(page).to_have_url(at("/signature"))
    await walk.see("signature method")

    await page.get_by_role("link", name="Signer avec mon certificat").click()
    await expect(page).to_have_url(at("/signature/certificat"))
    await walk.see("certificate")
    receipt = await downloaded(page, page.get_by_role("link", name="Télécharger l'avis de réception (PDF)"))
    assert receipt.startswith(b"%PDF-")

    # The unsigned AR is refused, in plain words, on the file's field.
    await upload_receipt(page, receipt)
    await walk.see("certificate, not signed")
    assert "aucune signature" in await field_error(page, "Avis de réception signé")

    await upload_receipt(page, await sign_with_certificate(test_pki, "recipient", receipt))
    await expect(page).to_have_url(at("/courrier"))
    await walk.see("letter")
    # The sender appears only now that the letter is accepted.
    await expect(page.get_by_text(letter.sender.name)).to_be_visible()
    await expect(page.get_by_text("Temps restant pour télécharger")).to_be_visible()

    for filename, content in letter.documents.items():
        assert await downloaded(page, page.get_by_role("link", name=filename, exact=True)) == content


async def test_recipient_refuses_the_letter_using_only_the_keyboard(
    deposit: Deposit, visitor: Visitor
) -> None:
    letter = await deposit()
    walk = await visitor("")
    page = await open_site(walk)

    await tab_to(walk, "item_number")
    await page.keyboard.type(letter.item_number)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(at("/identite"))
    await walk.see("identity")

    identity = typed_identity(letter.recipient)
    await tab_to(walk, "company")
    for name, value in identity.items():
        assert await focused(walk) == name, "the identity fields are not in tab order"
        await page.keyboard.type(value)
        await page.keyboard.press("Enter" if name == "city" else "Tab")
    await expect(page).to_have_url(at("/decision"))
    await walk.see("decision")
    assert letter.sender.name not in await page.content()

    await page.get_by_role("button", name="Refuser").click()
    await walk.see("refused")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("refusé")
    assert letter.sender.name not in await page.content()
    assert "Numéro de pli" in notice_text(letter.notice)


async def focused(walk: Walk) -> str:
    element_id: str = await walk.page.evaluate("() => document.activeElement?.id ?? ''")
    return element_id


async def tab_to(walk: Walk, element_id: str, presses: int = 10) -> None:
    for _ in range(presses):
        await walk.page.keyboard.press("Tab")
        if await focused(walk) == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with the Tab key")


async def downloaded(page: Page, link: Locator) -> bytes:
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    return (await download.path()).read_bytes()


async def upload_receipt(page: Page, pdf: bytes) -> None:
    await page.get_by_label("Avis de réception signé").set_input_files(
        files=FilePayload(name="avis-signe.pdf", mimeType="application/pdf", buffer=pdf)
    )
    await page.get_by_role("button", name="Signer", exact=True).click()
