"""The personal-certificate path of the acknowledgement of receipt (AR), as deployed: the
five services configured exactly as `make run` configures them (`deploy/local/platform.py`,
on the test PKI), no setting passed by hand. A letter is accepted, its AR downloaded, signed
with the demo recipient's test certificate by the command `make run` prints
(`deploy.local.sign_receipt`, timestamped by the test TSA), uploaded: the signer accepts it,
the download page opens, and the signed receipt is on record as evidence."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.local import platform
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from deploy.local.sign_receipt import sign
from lre_shared.contracts import Document, SubmitLetter
from lre_shared.sender import submit_letter
from tests.support.fixtures import SmtpServer
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform
from tests.support.site import csrf, plain_text, retried

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform_running(services: RunningPlatform, test_pki: TestPki) -> RunningPlatform:
    return services.start_on_test_pki(test_pki)


async def evidence_of(platform_running: RunningPlatform, letter_id: uuid.UUID, event: str) -> Any:
    signer = await asyncpg.connect(platform_running.database_url("signer"))
    try:
        for _ in range(200):
            row = await signer.fetchrow(
                "SELECT record FROM evidence WHERE letter_id = $1 AND event = $2", letter_id, event
            )
            if row is not None:
                return row
            await asyncio.sleep(0.1)
    finally:
        await signer.close()
    raise AssertionError(f"no {event} record for {letter_id}")


def test_the_platform_configuration_gives_the_signer_the_test_pki_root_for_signed_ars(
    platform_running: RunningPlatform, test_pki: TestPki
) -> None:
    signer = platform.service_environment(platform_running.config, "signer")

    assert json.loads(signer["SIGNER_RECEIPT_TRUST_ROOT_FILES"]) == [str(test_pki.root_file)]
    assert "no trust roots for personal certificates" not in platform_running.log_path("signer").read_text()


async def test_an_ar_signed_with_the_demo_recipients_test_certificate_opens_the_downloads(
    platform_running: RunningPlatform, smtp: SmtpServer, test_pki: TestPki
) -> None:
    recipient = DEMO_RECIPIENT.model_copy(update={"email": f"cert-{uuid.uuid4().hex[:8]}@exemple.example"})
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=recipient,
        main_document=Document(filename="mise-en-demeure.pdf", content=demo_pdf("AR " + uuid.uuid4().hex)),
    )
    letter_id = await submit_letter(platform_running.amqp_url, command)
    notice = await smtp.store.wait_for_async(lambda m: m["To"] == recipient.email, timeout=60)
    item = re.search(r"Numéro de pli : (\d{12})", plain_text(notice))
    assert item
    item_number = item.group(1)

    async with httpx.AsyncClient(base_url=platform_running.config.pickup_url, follow_redirects=True) as site:
        page = await site.get("/")
        page = await site.post("/", data={"csrf_token": csrf(page), "item_number": item_number})
        page = await site.post(
            "/identite",
            data={
                "csrf_token": csrf(page),
                "company": recipient.company or "",
                "last_name": recipient.last_name,
                "first_name": recipient.first_name,
                "address": recipient.address,
                "postcode": recipient.postcode,
                "city": recipient.city,
            },
        )
        assert page.url.path == "/decision", page.text
        page = await site.post("/decision", data={"csrf_token": csrf(page), "decision": "accepter"})
        assert page.url.path == "/signature"
        page = await site.get("/signature/certificat")
        receipt = await retried(site, "/signature/certificat/avis.pdf")
        assert receipt.status_code == 200, receipt.text

        # What `make run` tells the user to run on the AR they downloaded.
        signed = await sign(receipt.content, test_pki.directory, "recipient", test_pki.tsa_url)
        page = await site.post(
            "/signature/certificat",
            data={"csrf_token": csrf(page)},
            files={"receipt": (f"ar_{item_number}_signe.pdf", signed, "application/pdf")},
        )

    assert page.url.path == "/courrier", page.text
    assert DEMO_SENDER.name in page.text  # accepted and signed: the letter is open
    assert "Temps restant pour télécharger" in page.text
    acknowledged = await evidence_of(platform_running, letter_id, "ReceiptAcknowledgement")
    assert b"Camille Martin" in bytes(acknowledged["record"])
    await evidence_of(platform_running, letter_id, "ConsignmentAcceptance")
    signer = await asyncpg.connect(platform_running.database_url("signer"))
    try:
        stored = await signer.fetchrow(
            "SELECT signed_by, signed_accepted_at FROM receipt_forms WHERE letter_id = $1", letter_id
        )
    finally:
        await signer.close()
    assert stored["signed_by"] == "Camille Martin"
    assert stored["signed_accepted_at"] is not None
