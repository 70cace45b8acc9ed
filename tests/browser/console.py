"""The verification desk console in the browser: support staff signing in through the
platform's OpenID provider (its real pages), and the recipient's side that puts a case in
front of them (identify, accept, ask for a code, send a document)."""

from __future__ import annotations

import re
import smtplib
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import Browser, FilePayload, Page, expect

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import Document, NoticeChannel, Recipient, Sender, SubmitLetter
from tests.browser.conftest import ITEM_NUMBER, ITEM_NUMBER_EN, submitted
from tests.browser.harness import Walk
from tests.browser.letters import Letter
from tests.browser.recipient_tools import identity_card_png, notice_text
from tests.browser.steps import accept, at, identify
from tests.support.fixtures import SmtpServer
from tests.support.running import RunningPlatform

AGENT = ("agent", "agent-test")  # deploy/local/oidc.py: Alex Agent, role agent
SUPERVISOR = ("supervisor", "supervisor-test")  # Sam Supervisor, roles agent and supervisor
LANDLINE = "+33142680000"


async def open_console(browser: Browser, platform: RunningPlatform, directory: Path, name: str) -> Walk:
    """A support agent's own tab (own cookies) on the console, French by default."""
    context = await browser.new_context(
        base_url=platform.config.desk_url, locale="fr-FR", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(20_000)
    folder = directory / name
    folder.mkdir(parents=True, exist_ok=True)
    return Walk(await context.new_page(), folder)


async def sign_in(walk: Walk, user: tuple[str, str], *, keyboard: bool = False) -> Page:
    """Open the console signed out, follow its "Se connecter" button to the provider, sign in
    on the provider's own form (with the keyboard alone when `keyboard`), and come back to the
    console's queue, every page's own policy in force."""
    page = walk.page
    await page.goto("/desk/")
    button = page.get_by_role("button", name="Se connecter")
    await expect(page.get_by_role("heading", level=1, name="Connexion")).to_be_focused()
    await walk.see("signed out")
    if keyboard:
        await page.keyboard.press("Tab")
        await expect(button).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.locator("input[name=username]")).to_be_focused()  # autofocus
        await page.keyboard.type(user[0])
        await page.keyboard.press("Tab")
        await page.keyboard.type(user[1])
        await page.keyboard.press("Enter")
    else:
        await button.click()
        await page.locator("input[name=username]").fill(user[0])
        await page.locator("input[name=password]").fill(user[1])
        await page.locator("input[name=password]").press("Enter")
    await expect(page.get_by_role("heading", level=1, name="File d'attente")).to_be_focused(timeout=30_000)
    await walk.see("queue")
    return page


async def deposit_letter(
    platform: RunningPlatform,
    smtp: SmtpServer,
    senders: list[str],
    *,
    policy: Literal["default", "cnb"] = "default",
    **changes: Any,
) -> Letter:
    """Deposit a letter under `policy` (the sender's choice, `SubmitLetter.verification_policy`)
    and read its item number in the notice."""
    tag = uuid.uuid4().hex[:8]
    sender = DEMO_SENDER.model_copy(update={"name": f"Cabinet Console {tag}"})
    senders.append(sender.name)
    recipient = DEMO_RECIPIENT.model_copy(update={"email": f"console-{tag}@exemple.example"} | changes)
    main = Document(filename="mise-en-demeure.pdf", content=demo_pdf(f"Mise en demeure {tag}"))
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=sender,
        recipient=recipient,
        main_document=main,
        alert_channels=(NoticeChannel.email,),
        idempotency_key=f"console-{tag}",
        verification_policy=policy,
    )
    letter_id = await submitted(platform.amqp_url, command)
    mail = await smtp.store.wait_for_async(lambda m: m["To"] == recipient.email, timeout=60)
    found = ITEM_NUMBER.search(notice_text(mail)) or ITEM_NUMBER_EN.search(notice_text(mail))
    assert found, notice_text(mail)
    return Letter(
        letter_id=letter_id,
        item_number=found.group(1),
        sender=Sender.model_validate(sender.model_dump()),
        recipient=Recipient.model_validate(recipient.model_dump()),
        documents={main.filename: main.content},
        notice=mail,
    )


async def ask_for_a_code(walk: Walk, letter: Letter, documents_by: str = "upload") -> Page:
    """The recipient identifies, accepts and asks for a code by email, documents by `documents_by`."""
    page = await identify(walk, letter.item_number, letter.recipient)
    await accept(walk)
    await page.get_by_role("link", name="Demander un code").click()
    await expect(page).to_have_url(at("/signature/code"))
    await walk.see("code request")
    await page.get_by_label(re.compile("Comment transmettez-vous")).select_option(documents_by)
    await page.get_by_label(re.compile("Comment souhaitez-vous recevoir")).select_option("email")
    await page.get_by_role("button", name="OK").click()
    return page


async def send_document(walk: Walk, letter: Letter, *, pdf: bool = False) -> Page:
    """The recipient asks for a code and uploads an identity document (a PNG, or a PDF); the
    case waits for the desk."""
    page = await ask_for_a_code(walk, letter)
    await expect(page).to_have_url(at("/signature/code/justificatifs"), timeout=30_000)
    await walk.see("identity document")
    payload = (
        FilePayload(name="kbis-et-identite.pdf", mimeType="application/pdf", buffer=demo_pdf("Extrait Kbis"))
        if pdf
        else FilePayload(name="carte-identite.png", mimeType="image/png", buffer=identity_card_png())
    )
    await page.get_by_label("Justificatif d'identité").set_input_files(payload)
    await page.get_by_role("button", name="Envoyer le justificatif").click()
    await expect(page).to_have_url(at("/signature/code/attente"), timeout=30_000)
    await walk.see("waiting for the desk")
    return page


def mail_without_reference(platform: RunningPlatform, sender: str, subject: str) -> None:
    """A message to the desk's inbound address that names no case: it goes to triage."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "identite@lre.localhost"
    mail["Subject"] = subject
    mail.set_content("Bonjour, voici ma pièce d'identité.")
    mail.add_attachment(identity_card_png(), maintype="image", subtype="png", filename="piece.png")
    port = platform.config.desk_smtp_port or platform.config.ports["verification"] + 1
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as server:
        server.send_message(mail)


async def focused(page: Page) -> str:
    """What has the focus: its tag, id and accessible text, for assertions on focus handling."""
    value: str = await page.evaluate(
        "() => { const e = document.activeElement; const text = (e.textContent || e.value || '').trim();"
        " return `${e.tagName.toLowerCase()}#${e.id} ${text.slice(0, 80)}`; }"
    )
    return value
