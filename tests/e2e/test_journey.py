"""One letter through the five services, as separate processes, on the real parts:
deposit → stored with its hash → notice by email → item number → identity → accept →
acknowledgement of receipt signed with a personal certificate (test PKI) → download of the
document and of the whole letter as a zip, byte for byte what was deposited; with evidence
recorded at each step. And a refused deposit: its sender told why, its refusal recorded."""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import re
import uuid
import zipfile
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import Document, EvidenceEntry, SubmitLetter
from lre_shared.sender import SenderClient, submit_letter
from tests.browser.recipient_tools import sign_with_certificate
from tests.support.fixtures import SmtpServer
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform
from tests.support.site import csrf, plain_text, retried

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform_running(services: RunningPlatform, test_pki: TestPki) -> RunningPlatform:
    return services.start_on_test_pki(test_pki)


async def test_a_letter_goes_from_deposit_to_download_through_all_five_services(
    platform_running: RunningPlatform, smtp: SmtpServer, test_pki: TestPki
) -> None:
    pdf = demo_pdf("Mise en demeure de test " + uuid.uuid4().hex)
    recipient = DEMO_RECIPIENT.model_copy(update={"email": f"e2e-{uuid.uuid4().hex[:8]}@exemple.example"})
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=recipient,
        main_document=Document(filename="mise-en-demeure.pdf", content=pdf),
    )
    letter_id = await submit_letter(platform_running.amqp_url, command)

    # The notice, from the real SMTP server: item number, link, deadline; never the sender.
    notice = await smtp.store.wait_for_async(lambda m: m["To"] == recipient.email, timeout=60)
    text = plain_text(notice)
    item = re.search(r"Numéro de pli : (\d{12})", text)
    assert item, text
    item_number = item.group(1)
    assert platform_running.config.pickup_url in text
    assert re.search(r"jusqu'au \d{2}/\d{2}/\d{4} inclus", text)
    raw_notice = notice.as_string()
    assert DEMO_SENDER.name not in raw_notice
    assert "Démo" not in text

    async with httpx.AsyncClient(base_url=platform_running.config.pickup_url, follow_redirects=True) as site:
        page = await site.get("/")
        page = await site.post("/", data={"csrf_token": csrf(page), "item_number": item_number})
        assert page.url.path == "/identite"
        assert DEMO_SENDER.name not in page.text

        page = await site.post(
            "/identite",
            data={
                "csrf_token": csrf(page),
                "company": "societe EXEMPLE sas",
                "last_name": "MARTIN",
                "first_name": "Camille",
                "address": "12, av. de l'Opera",
                "postcode": "75001",
                "city": "PARIS",
            },
        )
        assert page.url.path == "/decision"
        # CPCE R.53-3: before acceptance the sender stays hidden.
        assert DEMO_SENDER.name not in page.text
        assert item_number in page.text

        page = await site.post("/decision", data={"csrf_token": csrf(page), "decision": "accepter"})
        assert page.url.path == "/signature"
        assert (await site.get("/courrier")).url.path == "/signature"  # downloads wait for the AR

        # The acknowledgement of receipt, signed with the recipient's personal certificate.
        page = await site.get("/signature/certificat")
        receipt = await retried(site, "/signature/certificat/avis.pdf")
        assert receipt.status_code == 200
        assert receipt.headers["content-type"] == "application/pdf"
        signed = await sign_with_certificate(test_pki, "recipient", receipt.content)
        page = await site.post(
            "/signature/certificat",
            data={"csrf_token": csrf(page)},
            files={"receipt": ("ar_signe.pdf", signed, "application/pdf")},
        )
        assert page.url.path == "/courrier", page.text
        assert DEMO_SENDER.name in page.text
        assert "Temps restant pour télécharger : 47 h" in page.text
        link = re.search(r'href="(/courrier/documents/[^"]+)"', page.text)
        assert link
        download = await retried(site, link.group(1))
        everything = await retried(site, "/courrier/tout.zip")

    assert download.status_code == 200
    assert download.content == pdf
    assert everything.status_code == 200, everything.text
    assert f'filename="pli_{item_number}.zip"' in everything.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(everything.content)) as whole:
        assert whole.testzip() is None
        assert whole.namelist() == ["mise-en-demeure.pdf", f"pli_{item_number}.pdf"]
        assert whole.read("mise-en-demeure.pdf") == pdf
        assert whole.read(f"pli_{item_number}.pdf").startswith(b"%PDF-")

    archive = await asyncpg.connect(platform_running.database_url("archive"))
    try:
        stored = await archive.fetchrow(
            "SELECT d.sha256, l.item_number FROM documents d JOIN letters l USING (letter_id)"
            " WHERE letter_id = $1",
            letter_id,
        )
    finally:
        await archive.close()
    assert stored["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert stored["item_number"] == item_number

    # The deposit's evidence comes first; the notice's, the acceptance's, the signed receipt's
    # and the first download's (ContentHandover, from the archive) reach the signer on queues
    # of their own and may be recorded in any order after it.
    records = await _evidence_of(platform_running, letter_id, expected=5)
    events = [r["event"] for r in records]
    assert events[0] == "SubmissionAcceptance"
    assert {
        "NotificationForAcceptance",
        "ConsignmentAcceptance",
        "ReceiptAcknowledgement",
        "ContentHandover",
    } <= set(events[1:])
    for previous, record in itertools.pairwise(records):
        assert record["previous_sha256"] == previous["record_sha256"]

    verification = await asyncpg.connect(platform_running.database_url("verification"))
    try:
        policy = await verification.fetchval("SELECT policy FROM letters WHERE letter_id = $1", letter_id)
    finally:
        await verification.close()
    assert policy == "default"


async def _evidence_of(platform_running: RunningPlatform, letter_id: uuid.UUID, expected: int) -> list[Any]:
    signer = await asyncpg.connect(platform_running.database_url("signer"))
    try:
        for _ in range(200):
            records = await signer.fetch(
                "SELECT event, record_sha256, previous_sha256 FROM evidence"
                " WHERE letter_id = $1 ORDER BY seq",
                letter_id,
            )
            if len(records) >= expected:
                return list(records)
            await asyncio.sleep(0.1)
    finally:
        await signer.close()
    raise AssertionError(f"only {len(records)} evidence records for {letter_id}")


async def test_a_refused_deposit_reaches_the_sender_and_the_evidence_by_field(
    platform_running: RunningPlatform,
) -> None:
    """The archive refuses it and says why by field (LetterRejected); the signer records the
    refusal, sealed: ETSI EN 319 522 SubmissionRejection, one reason per problem."""
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT.model_copy(update={"email": "not an address"}),
        main_document=Document(filename="lettre.pdf", content=b"PK\x03\x04 a zip, not a PDF"),
    )
    async with SenderClient(platform_running.amqp_url, DEMO_SENDER.id, timeout=60) as sender:
        await sender.send(command)
        outcome = await sender.outcome(command)
        records: tuple[EvidenceEntry, ...] = ()
        for _ in range(100):
            records = (await sender.evidence(command.correlation_id)).records
            if records:
                break
            await asyncio.sleep(0.2)

    signer = await asyncpg.connect(platform_running.database_url("signer"))
    try:
        for _ in range(100):
            sealed = await signer.fetchval(
                "SELECT bool_and(seal IS NOT NULL) FROM evidence WHERE letter_id = $1", command.correlation_id
            )
            if sealed:
                break
            await asyncio.sleep(0.2)
    finally:
        await signer.close()

    assert outcome is not None and not outcome.deposited
    assert {problem.field for problem in outcome.problems} == {"recipient.email", "main_document.content"}
    [record] = records
    assert record.event == "SubmissionRejection"
    assert sorted(reason.split(":")[0] for reason in record.reasons) == [
        "main_document.content",
        "recipient.email",
    ]
    assert sealed
