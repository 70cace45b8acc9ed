"""An English-speaking recipient through the five services, as separate processes, on the
real parts: the language given at deposit reaches the notice (in English), the site (English
once identified) and, on the one-time-code path, the confirmation of the verification case,
which lists the documents the sender's policy (the French bar's, `cnb`) requires."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import Document, SubmitLetter
from lre_shared.sender import submit_letter
from tests.support.fixtures import SmtpServer
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform
from tests.support.site import csrf, plain_text

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform_running(services: RunningPlatform, test_pki: TestPki) -> RunningPlatform:
    return services.start_on_test_pki(test_pki)


async def test_an_english_recipient_gets_the_notice_and_the_code_path_confirmation_in_english(
    platform_running: RunningPlatform, smtp: SmtpServer
) -> None:
    address = f"e2e-en-{uuid.uuid4().hex[:8]}@exemple.example"
    recipient = DEMO_RECIPIENT.model_copy(update={"email": address, "language": "en"})
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=recipient,
        main_document=Document(filename="formal-notice.pdf", content=demo_pdf("Formal notice")),
        verification_policy="cnb",
    )
    await submit_letter(platform_running.amqp_url, command)

    notice = await smtp.store.wait_for_async(lambda m: m["To"] == address, timeout=60)
    text = plain_text(notice)
    assert notice["Subject"] == "A registered electronic letter awaits you"
    item = re.search(r"Item number: (\d{12})", text)
    assert item, text
    assert "Numéro de pli" not in text
    assert DEMO_SENDER.name not in notice.as_string()

    async with httpx.AsyncClient(base_url=platform_running.config.pickup_url, follow_redirects=True) as site:
        page = await site.get("/")
        page = await site.post("/", data={"csrf_token": csrf(page), "item_number": item.group(1)})
        page = await site.post(
            "/identite",
            data={
                "csrf_token": csrf(page),
                "company": "Société Exemple SAS",
                "last_name": "Martin",
                "first_name": "Camille",
                "address": "12 avenue de l'Opéra",
                "postcode": "75001",
                "city": "Paris",
            },
        )
        assert page.url.path == "/decision"
        assert '<html lang="en">' in page.text  # the recipient's language, once identified
        page = await site.post("/decision", data={"csrf_token": csrf(page), "decision": "accepter"})
        page = await site.get("/signature/code")
        assert "<h1>Ask for a signing code</h1>" in page.text
        assert 'value="mms"' not in page.text and 'value="fax"' not in page.text  # none configured
        page = await site.post(
            "/signature/code",
            data={"csrf_token": csrf(page), "document_channel": "upload", "code_channel": "email"},
        )
        assert page.url.path == "/signature/code/justificatifs", page.text
        assert "an identity document valid for more than 6 more months" in page.text
        reference = re.search(r"LRE-[0-9A-Z]+", page.text)
        assert reference, page.text

    confirmation = await smtp.store.wait_for_async(
        lambda m: m["To"] == address and reference.group(0) in str(m["Subject"]), timeout=60
    )
    body = plain_text(confirmation)
    assert confirmation["Subject"] == f"Your signing code request {reference.group(0)} is recorded"
    assert "- an identity document valid for more than 6 more months" in body
    assert "- a company extract (Kbis) with a valid SIREN or SIRET number" in body
    assert "- this year's bar registration certificate" in body
    assert "Upload them on your letter's page of the pickup site" in body
    assert DEMO_SENDER.name not in confirmation.as_string()
