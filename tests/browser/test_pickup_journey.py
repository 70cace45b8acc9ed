"""The recipient's journey on the pickup site, in real headless Chromium, against the five
running services: the notice read from the SMTP server, the item number typed, the
identity (once wrong, then right), the decision, the acknowledgement of receipt signed with a
personal certificate or with a one-time code (identity checked at the verification desk),
the downloads; and the refusal, by keyboard only."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Download, FilePayload, Locator, Page, expect

from tests.browser.harness import Walk
from tests.browser.letters import Deposit, Letter, Visitor
from tests.browser.recipient_tools import sign_with_certificate, zip_members
from tests.browser.steps import (
    a_wrong_code,
    accept,
    at,
    code_sent_to,
    enter_identity,
    enter_item_number,
    field_error,
    open_site,
    reach_code_entry,
    type_code,
    typed_identity,
    wrong_identity,
)
from tests.support.fixtures import SmtpServer
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


async def test_recipient_accepts_signs_with_a_certificate_and_downloads_every_file_and_the_zip(
    deposit: Deposit, visitor: Visitor, test_pki: TestPki, platform_running: RunningPlatform
) -> None:
    letter = await deposit(attachments=1)
    # CPCE R.53-3: the notice never names the sender.
    assert letter.sender.name not in letter.notice.as_string()
    walk = await visitor("")
    page = walk.page

    await enter_item_number(walk, letter.item_number)
    await expect(page).to_have_url(at("/identite"))
    await walk.see("identity")

    await enter_identity(walk, wrong_identity(letter.recipient))
    await expect(page.get_by_role("alert")).to_contain_text("ne correspondent pas")
    await expect(page.get_by_role("alert")).to_contain_text("4 essai")
    await walk.see("identity, wrong")

    await enter_identity(walk, typed_identity(letter.recipient))
    await expect(page).to_have_url(at("/decision"))
    await walk.see("decision")
    await expect(page.get_by_text(letter.item_number)).to_be_visible()
    await accept(walk)

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
    await download_everything(walk, letter)


async def test_recipient_signs_with_a_one_time_code_once_the_desk_has_checked_their_identity(
    deposit: Deposit, visitor: Visitor, platform_running: RunningPlatform, smtp: SmtpServer
) -> None:
    letter = await deposit()
    walk = await visitor("")
    page = await reach_code_entry(walk, letter, platform_running)
    code = await code_sent_to(smtp, letter.recipient.email)

    await type_code(walk, a_wrong_code(code))
    await walk.see("code entry, wrong code")
    assert "n'est pas le bon" in await field_error(page, "Code de signature")

    await type_code(walk, code)
    await expect(page).to_have_url(at("/courrier"))
    await download_everything(walk, letter)


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

    await page.get_by_role("button", name="Refuser").click()
    await walk.see("refused")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("refusé")


async def focused(walk: Walk) -> str:
    element_id: str = await walk.page.evaluate("() => document.activeElement?.id ?? ''")
    return element_id


async def tab_to(walk: Walk, element_id: str, presses: int = 10) -> None:
    for _ in range(presses):
        await walk.page.keyboard.press("Tab")
        if await focused(walk) == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with the Tab key")


async def download_everything(walk: Walk, letter: Letter) -> None:
    """On the letter page: the sender shown at last, each document and the zip downloaded."""
    page = walk.page
    await walk.see("letter")
    # CPCE R.53-3: the sender appears only now that the letter is accepted.
    await expect(page.get_by_text(letter.sender.name)).to_be_visible()
    await expect(page.get_by_text("Temps restant pour télécharger")).to_be_visible()

    for filename, content in letter.documents.items():
        assert await downloaded(page, page.get_by_role("link", name=filename, exact=True)) == content

    # The zip waits for the signer's envelope proof: until it reaches the archive, the site
    # asks to retry, and the zip holds it.
    whole = await download_of(page, page.get_by_role("link", name="Enregistrer tous les documents"))
    assert whole.suggested_filename == f"pli_{letter.item_number}.zip"
    members = zip_members(await whole.path())
    for filename, content in letter.documents.items():
        assert members.pop(filename) == content
    envelope = members.pop(f"pli_{letter.item_number}.pdf")
    assert envelope.startswith(b"%PDF-")
    assert not members, f"unexpected files in the zip: {sorted(members)}"


async def download_of(page: Page, link: Locator) -> Download:
    """Click a download link until the download completes: the archive learns of the
    signature (and, for the zip, the envelope proof) from the bus a moment after the site, and
    until then the site asks to retry."""
    for _ in range(150):
        async with page.expect_download() as download_info:
            await link.click()
        download = await download_info.value
        if await download.failure() is None:
            return download
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"the download of {await link.inner_text()} kept failing: {await download.failure()}"
    )


async def downloaded(page: Page, link: Locator) -> bytes:
    return (await (await download_of(page, link)).path()).read_bytes()


async def upload_receipt(page: Page, pdf: bytes) -> None:
    await page.get_by_label("Avis de réception signé").set_input_files(
        files=FilePayload(name="avis-signe.pdf", mimeType="application/pdf", buffer=pdf)
    )
    await page.get_by_role("button", name="Signer", exact=True).click()
