"""One letter down each path, in Chromium, on the platform as `make run` configures it (the
test PKI, SMS and calls through Prism, faxes through the SMTP catcher): the notice by email,
SMS, call and fax; an email refused for good, then the SMS; accepted and signed with a
personal certificate; accepted and signed with a one-time code, documents sent by upload or
by email; refused; unclaimed; an English-speaking recipient. Each ends with the evidence the
signer recorded and what the sender's status says, as the sender system reads them."""

from __future__ import annotations

import asyncio
import re
import smtplib
import uuid
from collections.abc import Callable
from email.message import EmailMessage

import asyncpg
import pytest
from playwright.async_api import Page, expect

from deploy.local.demo import DEMO_SENDER
from deploy.local.sign_receipt import sign
from lre_shared.contracts import LetterStatus, NoticeChannel
from lre_shared.sender import SenderClient
from tests.browser.desk import approve_next_case
from tests.browser.harness import Walk
from tests.browser.letters import Deposit, Letter, Visitor
from tests.browser.recipient_tools import identity_card_png
from tests.browser.steps import accept, at, code_sent_to, identify, type_code
from tests.browser.test_pickup_journey import downloaded, upload_receipt
from tests.support.fixtures import SmtpServer
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

MOBILE, FAX_NUMBER = "+33612345678", "+33142680001"


async def evidence_of(
    platform: RunningPlatform, letter: Letter, until: Callable[[list[tuple[str, str | None]]], bool]
) -> list[tuple[str, str | None]]:
    """The letter's evidence as its sender lists it (event, channel), once `until` holds."""
    found: list[tuple[str, str | None]] = []
    async with SenderClient(platform.amqp_url, DEMO_SENDER.id) as client:
        for _ in range(300):
            listed = await client.evidence(letter.letter_id)
            found = [(record.event, record.channel) for record in listed.records]
            if until(found):
                return found
            await asyncio.sleep(0.2)
    raise AssertionError(f"evidence of {letter.item_number}: {found}")


def events(found: list[tuple[str, str | None]]) -> list[str]:
    return [event for event, _ in found]


async def status_of(platform: RunningPlatform, letter: Letter, stage: str) -> LetterStatus:
    """The sender's status of the letter, once it reads `stage`."""
    async with SenderClient(platform.amqp_url, DEMO_SENDER.id) as client:
        for _ in range(300):
            status = await client.status(letter.letter_id)
            if status.stage == stage:
                return status
            await asyncio.sleep(0.2)
    raise AssertionError(f"the sender's status of {letter.item_number} never read {stage}: {status}")


async def test_a_notice_by_email_sms_call_and_fax_leads_the_recipient_to_the_letter(
    deposit: Deposit, visitor: Visitor, platform_running: RunningPlatform, smtp: SmtpServer
) -> None:
    letter = await deposit(
        alerts=(NoticeChannel.sms, NoticeChannel.voice, NoticeChannel.fax), mobile=MOBILE, fax=FAX_NUMBER
    )

    found = await evidence_of(
        platform_running, letter, lambda f: events(f).count("NotificationForAcceptance") >= 4
    )
    notified = sorted(channel or "" for event, channel in found if event == "NotificationForAcceptance")
    assert notified == ["email", "fax", "sms", "voice"]
    fax = await smtp.store.wait_for_async(
        lambda m: (
            m["To"] == "33142680001@fax.localhost"
            and any(part.get_filename() == f"avis_{letter.item_number}.pdf" for part in m.iter_attachments())
        ),
        timeout=30,
    )
    assert letter.sender.name not in fax.as_string()  # CPCE R.53-3, on every channel
    status = await status_of(platform_running, letter, "notified")
    assert status.notified_at is not None

    walk = await visitor("")
    page = await identify(walk, letter.item_number, letter.recipient)
    await expect(page).to_have_url(at("/decision"))
    await expect(page.get_by_text(letter.item_number)).to_be_visible()


async def test_an_email_refused_for_good_gives_way_to_the_sms_which_brings_the_recipient(
    deposit: Deposit, visitor: Visitor, platform_running: RunningPlatform, smtp: SmtpServer
) -> None:
    email = f"refuse-{uuid.uuid4().hex[:8]}@exemple.example"
    smtp.store.refuse(email)
    letter = await deposit(notice=False, email=email, mobile=MOBILE)

    found = await evidence_of(platform_running, letter, lambda f: "NotificationForAcceptance" in events(f))
    # Two events on two queues of the signer: recorded in either order.
    assert sorted(f for f in found if f[0].startswith("Notification")) == [
        ("NotificationForAcceptance", "sms"),
        ("NotificationForAcceptanceFailure", "email"),
    ]
    # CPCE R.53-3: the email is the notice, an SMS only an alert; the sender sees no notice yet.
    status = await status_of(platform_running, letter, "deposited")
    assert status.notified_at is None

    walk = await visitor("")
    page = await identify(walk, letter.item_number, letter.recipient)
    await expect(page).to_have_url(at("/decision"))


async def test_accepted_and_signed_with_a_personal_certificate_then_downloaded(
    deposit: Deposit, visitor: Visitor, platform_running: RunningPlatform, test_pki: TestPki
) -> None:
    letter = await deposit()
    walk = await visitor("")
    page = await identify(walk, letter.item_number, letter.recipient)
    await accept(walk)
    await page.get_by_role("link", name="Signer avec mon certificat").click()
    await walk.see("certificate")
    receipt = await downloaded(page, page.get_by_role("link", name="Télécharger l'avis de réception (PDF)"))
    # As `make run` tells a newcomer to: the demo recipient's test certificate signs the AR.
    pki = test_pki.local()
    await upload_receipt(page, await sign(receipt, pki.directory, "recipient", pki.tsa_url))
    await expect(page).to_have_url(at("/courrier"))
    await walk.see("letter")
    [(name, content)] = letter.documents.items()
    assert await downloaded(page, page.get_by_role("link", name=name, exact=True)) == content

    found = await evidence_of(platform_running, letter, lambda f: "ContentHandover" in events(f))
    assert {"SubmissionAcceptance", "ConsignmentAcceptance", "ReceiptAcknowledgement"} <= set(events(found))
    status = await status_of(platform_running, letter, "downloaded")
    assert status.accepted_at and status.receipt_signed_at and status.handed_over_at


async def test_accepted_and_signed_with_a_code_after_documents_sent_by_upload(
    deposit: Deposit, visitor: Visitor, platform_running: RunningPlatform, smtp: SmtpServer
) -> None:
    from tests.browser.steps import reach_code_entry

    letter = await deposit()
    walk = await visitor("")
    page = await reach_code_entry(walk, letter, platform_running)
    await type_code(walk, await code_sent_to(smtp, letter.recipient.email))
    await expect(page).to_have_url(at("/courrier"))
    await walk.see("letter")

    found = await evidence_of(platform_running, letter, lambda f: "ReceiptAcknowledgement" in events(f))
    assert "ConsignmentAcceptance" in events(found)
    await status_of(platform_running, letter, "signed")


async def test_accepted_and_signed_with_a_code_after_documents_sent_by_email(
    deposit: Deposit, visitor: Visitor, platform_running: RunningPlatform, smtp: SmtpServer
) -> None:
    letter = await deposit()
    walk = await visitor("")
    page = await identify(walk, letter.item_number, letter.recipient)
    await accept(walk)
    await page.get_by_role("link", name="Demander un code").click()
    await walk.see("code request")
    await page.get_by_label(re.compile("Comment transmettez-vous")).select_option("email")
    await page.get_by_label(re.compile("Comment souhaitez-vous recevoir")).select_option("email")
    await page.get_by_role("button", name="OK").click()
    await expect(page).to_have_url(at("/signature/code/attente"))
    reference = await page_reference(page)
    await walk.see("waiting, documents by email")

    # The recipient mails the identity card to the desk, the reference in the subject.
    await asyncio.to_thread(mail_identity_card, platform_running, letter.recipient.email, reference)
    await approve_next_case(platform_running, letter.item_number)
    await expect(page).to_have_url(at("/signature/code/saisie"), timeout=30_000)
    await walk.see("code entry")
    await type_code(walk, await code_sent_to(smtp, letter.recipient.email))
    await expect(page).to_have_url(at("/courrier"))
    await walk.see("letter")

    found = await evidence_of(platform_running, letter, lambda f: "ReceiptAcknowledgement" in events(f))
    assert "ConsignmentAcceptance" in events(found)
    await status_of(platform_running, letter, "signed")


async def page_reference(page: Page) -> str:
    found = re.search(r"LRE-[0-9A-Z]{6}", await page.content())
    assert found, "the waiting page gives no reference"
    return found.group(0)


def mail_identity_card(platform: RunningPlatform, sender: str, reference: str) -> None:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "identite@lre.localhost"
    mail["Subject"] = f"Justificatif {reference}"
    mail.set_content("Ci-joint ma carte d'identité.")
    mail.add_attachment(identity_card_png(), maintype="image", subtype="png", filename="carte.png")
    port = platform.config.desk_smtp_port or platform.config.ports["verification"] + 1
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.send_message(mail)


async def test_refused_and_the_sender_told_at_once(
    deposit: Deposit, visitor: Visitor, platform_running: RunningPlatform
) -> None:
    letter = await deposit()
    walk = await visitor("")
    page = await identify(walk, letter.item_number, letter.recipient)
    await page.get_by_role("button", name="Refuser").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("refusé")
    await walk.see("refused")

    found = await evidence_of(platform_running, letter, lambda f: "ConsignmentRejection" in events(f))
    assert "ConsignmentAcceptance" not in events(found)
    status = await status_of(platform_running, letter, "refused")
    assert status.refused_at is not None


async def test_left_past_its_window_it_becomes_unclaimed_and_the_sender_has_the_proof(
    deposit: Deposit, visitor: Visitor, platform_running: RunningPlatform
) -> None:
    letter = await deposit()
    # Time passes for this letter: its 15-day window (CPCE R.53-3) closed yesterday.
    conn = await asyncpg.connect(platform_running.database_url("pickup"))
    try:
        for _ in range(300):  # once the pickup site has heard of the notice, which sets the window
            moved = await conn.execute(
                "UPDATE letters SET deadline = current_date - 2"
                " WHERE letter_id = $1 AND first_notice_at IS NOT NULL",
                letter.letter_id,
            )
            if moved == "UPDATE 1":
                break
            await asyncio.sleep(0.2)
    finally:
        await conn.close()

    found = await evidence_of(platform_running, letter, lambda f: "AcceptanceRejectionExpiry" in events(f))
    assert "ConsignmentAcceptance" not in events(found)
    status = await status_of(platform_running, letter, "unclaimed")
    assert status.unclaimed_at is not None

    walk = await visitor("")
    page = await identify(walk, letter.item_number, letter.recipient)
    await expect(page.get_by_role("heading", level=1)).to_contain_text("non réclamé")
    await walk.see("unclaimed")


async def test_an_english_speaking_recipient_reads_the_notice_and_the_site_in_english(
    deposit: Deposit, visitor: Visitor, platform_running: RunningPlatform
) -> None:
    letter = await deposit(language="en")
    assert "Item number" in str(letter.notice.get_body(preferencelist=("plain",)))

    walk: Walk = await visitor("")
    page = await identify(walk, letter.item_number, letter.recipient)
    await expect(page.get_by_role("button", name="Refuse")).to_be_visible()
    await page.get_by_role("button", name="Refuse").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("refused")
    await walk.see("refused, in English")

    found = await evidence_of(platform_running, letter, lambda f: "ConsignmentRejection" in events(f))
    assert "SubmissionAcceptance" in events(found)
    await status_of(platform_running, letter, "refused")
