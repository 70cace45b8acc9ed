"""Recipients prove their identity through an identity provider on the pickup site (CPCE
R.53-1: eIDAS level substantial or high, FranceConnect+), in real headless Chromium against
the five running services and the local OpenID provider (deploy/local/oidc.py), signing in
on its own login form: the AR signed with no agent where the sender allowed it, the one-time
code issued without an agent otherwise, another person's names sent to the desk with the
reason, and a level too low refused."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, expect

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import Document, SignatureMethod, SubmitLetter
from lre_shared.sender import SenderClient
from tests.browser.conftest import ITEM_NUMBER, submitted
from tests.browser.desk import desk_client
from tests.browser.harness import Walk
from tests.browser.letters import Visitor
from tests.browser.recipient_tools import notice_text
from tests.browser.steps import accept, at, code_sent_to, identify, type_code
from tests.support.fixtures import SmtpServer
from tests.support.running import RunningPlatform

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PROVIDER = "Fournisseur d'identité de test"  # its name on the pickup site (deploy/local/platform.py)
CODE_PATH = (SignatureMethod.certificate, SignatureMethod.one_time_code)  # a deposit's default
DIRECT = (SignatureMethod.certificate, SignatureMethod.identity_provider, SignatureMethod.one_time_code)
CAMILLE_BORN = date(1990, 4, 12)  # the provider's `camille` (deploy/local/oidc.py)


async def deposit_for_camille(
    platform: RunningPlatform,
    smtp: SmtpServer,
    senders: list[str],
    methods: tuple[SignatureMethod, ...],
    birth_date: date | None = None,
) -> tuple[uuid.UUID, str, str]:
    """A letter to the demo recipient (MARTIN Camille, the provider's `camille`), with the
    signature methods the sender allows and the birth date it declares, if any; its id, item
    number and the recipient's email."""
    tag = uuid.uuid4().hex[:8]
    sender = DEMO_SENDER.model_copy(update={"name": f"Cabinet Témoin {tag}"})
    senders.append(sender.name)
    recipient = DEMO_RECIPIENT.model_copy(
        update={"email": f"idp-{tag}@exemple.example", "birth_date": birth_date}
    )
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=sender,
        recipient=recipient,
        main_document=Document(filename="mise-en-demeure.pdf", content=demo_pdf(f"Mise en demeure {tag}")),
        signature_methods=methods,
        idempotency_key=f"browser-idp-{tag}",
    )
    letter_id = await submitted(platform.amqp_url, command)
    mail = await smtp.store.wait_for_async(lambda m: m["To"] == recipient.email, timeout=60)
    found = ITEM_NUMBER.search(notice_text(mail))
    assert found, notice_text(mail)
    return letter_id, found.group(1), recipient.email


async def reach_signature(walk: Walk, item_number: str) -> Page:
    page = await identify(walk, item_number, DEMO_RECIPIENT)
    await accept(walk)
    return page


async def sign_in_at_provider(walk: Walk, platform: RunningPlatform, username: str, password: str) -> None:
    """On the provider's own login page (another origin): type the user's name and password."""
    assert platform.config.oidc is not None
    page = walk.page
    await expect(page).to_have_url(re.compile("^" + re.escape(platform.config.oidc.issuer) + "/"))
    await walk.see("identity provider, sign-in form")
    await page.get_by_label("User name").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def connected(url: str) -> asyncpg.Connection:
    """A connection to the signer's database; the shared server may be at its connection limit
    for a moment while other platforms run beside this one."""
    for _ in range(60):
        try:
            return await asyncpg.connect(url)
        except asyncpg.TooManyConnectionsError:
            await asyncio.sleep(1)
    raise AssertionError("PostgreSQL took no connection for a minute")


async def evidence_records(
    platform: RunningPlatform, letter_id: uuid.UUID, event: str
) -> list[dict[str, Any]]:
    """The sealed records of `event` for the letter, as the signer keeps them (canonical JSON),
    once the letter's sender lists the event among its evidence."""
    async with SenderClient(platform.amqp_url, DEMO_SENDER.id) as client:
        for _ in range(300):
            listed = await client.evidence(letter_id)
            if any(record.event == event for record in listed.records):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"no {event} among {[r.event for r in listed.records]}")
    connection = await connected(platform.database_url("signer"))
    try:
        rows = await connection.fetch(
            "SELECT record FROM evidence WHERE letter_id = $1 AND event = $2 ORDER BY seq", letter_id, event
        )
    finally:
        await connection.close()
    return [json.loads(bytes(row["record"])) for row in rows]


async def reject_next_case(desk: httpx.AsyncClient, case_id: str, reason: str) -> None:
    """An agent takes the next case waiting, which must be `case_id`, and rejects it."""
    claimed = await desk.post("/cases/claim")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["case"]["case_id"] == case_id, claimed.json()
    decided = await desk.post(f"/cases/{case_id}/decision", json={"outcome": "rejected", "reason": reason})
    assert decided.status_code == 200, decided.text


async def test_a_recipient_proves_their_identity_with_the_provider_and_the_ar_is_signed_with_no_agent(
    visitor: Visitor, platform_running: RunningPlatform, smtp: SmtpServer, senders: list[str]
) -> None:
    # The sender declares her birth date: the provider's is the same (deploy/local/oidc.py).
    letter_id, item_number, _ = await deposit_for_camille(
        platform_running, smtp, senders, DIRECT, CAMILLE_BORN
    )
    walk = await visitor("")
    page = await reach_signature(walk, item_number)

    await page.get_by_role("button", name=f"Prouver mon identité avec {PROVIDER}").click()
    await sign_in_at_provider(walk, platform_running, "camille", "camille-test")

    # Back on the site: signed, the content open for download, no case at the desk.
    await expect(page).to_have_url(at("/courrier"), timeout=30_000)
    await walk.see("letter, signed with the identity provider")
    [identified] = await evidence_records(platform_running, letter_id, "RecipientIdentified")
    assert identified["event_uri"] == "urn:lre:evidence-event:RecipientIdentified"
    details = identified["details"]
    assert platform_running.config.oidc is not None
    assert details["issuer"] == platform_running.config.oidc.issuer
    assert (details["subject"], details["acr"], details["outcome"]) == (
        "fc-camille-martin",
        "eidas2",
        "matched",
    )
    assert details["auth_time"] is not None
    assert details["claims"]["family_name"] == "MARTIN"
    assert "1990-04-12" not in json.dumps(identified)  # the birth date only as its hash
    [signed] = await evidence_records(platform_running, letter_id, "ReceiptAcknowledgement")
    assert signed["details"]["method"] == "identity_provider"
    assert signed["details"]["case_id"] is None  # no verification case, no agent
    assert signed["details"]["signer_name"] == "Camille Marie MARTIN"


async def test_on_the_code_path_the_provider_stands_for_the_documents_and_the_code_signs_the_ar(
    visitor: Visitor, platform_running: RunningPlatform, smtp: SmtpServer, senders: list[str]
) -> None:
    letter_id, item_number, email = await deposit_for_camille(platform_running, smtp, senders, CODE_PATH)
    walk = await visitor("")
    page = await reach_signature(walk, item_number)
    await page.get_by_role("link", name="Demander un code").click()
    await expect(page).to_have_url(at("/signature/code"))
    await walk.see("code request, with the identity provider")

    await page.get_by_role("button", name=f"Prouver mon identité avec {PROVIDER}").click()
    await sign_in_at_provider(walk, platform_running, "camille", "camille-test")

    # The desk approved the case itself: the code entry page, and the code by email.
    await expect(page).to_have_url(at("/signature/code/saisie"), timeout=30_000)
    await walk.see("code entry, after the identity provider")
    code = await code_sent_to(smtp, email)
    await type_code(walk, code)
    await expect(page).to_have_url(at("/courrier"))
    await walk.see("letter, signed with the code")
    [identified] = await evidence_records(platform_running, letter_id, "RecipientIdentified")
    assert (identified["details"]["outcome"], identified["details"]["purpose"]) == ("matched", "code")
    [signed] = await evidence_records(platform_running, letter_id, "ReceiptAcknowledgement")
    assert signed["details"]["method"] == "one_time_code" and signed["details"]["case_id"] is not None


async def test_another_persons_names_go_to_the_desk_with_the_reason(
    visitor: Visitor, platform_running: RunningPlatform, smtp: SmtpServer, senders: list[str]
) -> None:
    letter_id, item_number, _ = await deposit_for_camille(platform_running, smtp, senders, DIRECT)
    walk = await visitor("")
    page = await reach_signature(walk, item_number)

    await page.get_by_role("button", name=f"Prouver mon identité avec {PROVIDER}").click()
    await sign_in_at_provider(walk, platform_running, "dominique", "dominique-test")

    await expect(page.get_by_role("heading", level=1)).to_have_text("Le support va vérifier votre identité")
    await expect(page.locator("main")).to_contain_text("Dominique DURAND")
    await walk.see("identity provider, names of someone else")
    await expect(page.get_by_role("link", name="Envoyer un justificatif")).to_be_visible()

    # The desk's agents see the case, with why the provider's sign-in did not settle it.
    reason = "identity provider names DURAND Dominique; the letter names MARTIN Camille"
    async with await asyncio.to_thread(desk_client, platform_running) as desk:
        listed = await desk.get("/cases")
        assert listed.status_code == 200, listed.text
        [case] = [c for c in listed.json()["cases"] if c["item_number"] == item_number]
    assert (case["state"], case["reason"]) == ("pending", reason)
    [identified] = await evidence_records(platform_running, letter_id, "RecipientIdentified")
    assert identified["details"]["outcome"] == "mismatched"
    assert identified["details"]["reason"] == reason

    # Nothing is signed: the signing step still waits (for the desk, then the code).
    await page.get_by_role("link", name="Suivre la vérification").click()
    await expect(page).to_have_url(at("/signature/code/attente"))
    await walk.see("waiting for the desk, after the identity provider")

    # An agent takes the case (the next one waiting) and, with no document sent, rejects it:
    # the recipient's page says so.
    async with await asyncio.to_thread(desk_client, platform_running) as desk:
        await reject_next_case(desk, case["case_id"], "le fournisseur d'identité nomme une autre personne")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Identité non vérifiée", timeout=30_000)
    await walk.see("identity not verified by the desk")


async def test_a_sign_in_at_level_low_is_refused_with_a_clear_page(
    visitor: Visitor, platform_running: RunningPlatform, smtp: SmtpServer, senders: list[str]
) -> None:
    letter_id, item_number, _ = await deposit_for_camille(platform_running, smtp, senders, DIRECT)
    walk = await visitor("")
    page = await reach_signature(walk, item_number)

    await page.get_by_role("button", name=f"Prouver mon identité avec {PROVIDER}").click()
    await sign_in_at_provider(walk, platform_running, "camille-low", "camille-test")

    await expect(page.get_by_role("heading", level=1)).to_have_text("Niveau d'identification insuffisant")
    await expect(page.locator("main")).to_contain_text("niveau substantiel ou élevé")
    await walk.see("identity provider, level too low")
    [identified] = await evidence_records(platform_running, letter_id, "RecipientIdentified")
    assert (identified["details"]["acr"], identified["details"]["outcome"]) == (
        "eidas1",
        "insufficient_level",
    )

    # Documents instead: the code path, where the provider is still offered beside them.
    await page.get_by_role("link", name="Envoyer un justificatif d'identité").click()
    await expect(page).to_have_url(at("/signature/code"))
    await walk.see("code request, after a level too low")


async def test_a_namesake_born_another_day_goes_to_the_desk_and_nothing_is_signed(
    visitor: Visitor, platform_running: RunningPlatform, smtp: SmtpServer, senders: list[str]
) -> None:
    """CPCE R.53-1: the provider must identify the recipient, not someone of that name. The
    sender declared a birth date; the provider's MARTIN Camille was born another day."""
    letter_id, item_number, _ = await deposit_for_camille(
        platform_running, smtp, senders, DIRECT, date(1991, 4, 12)
    )
    walk = await visitor("")
    page = await reach_signature(walk, item_number)

    await page.get_by_role("button", name=f"Prouver mon identité avec {PROVIDER}").click()
    await sign_in_at_provider(walk, platform_running, "camille", "camille-test")

    await expect(page.get_by_role("heading", level=1)).to_have_text("Le support va vérifier votre identité")
    await walk.see("identity provider, a namesake born another day")
    reason = "identity provider gives another birth date for MARTIN Camille Marie than the letter declares"
    [identified] = await evidence_records(platform_running, letter_id, "RecipientIdentified")
    assert (identified["details"]["outcome"], identified["details"]["reason"]) == ("mismatched", reason)
    assert "1990-04-12" not in json.dumps(identified) and "1991-04-12" not in json.dumps(identified)
    async with await asyncio.to_thread(desk_client, platform_running) as desk:
        listed = await desk.get("/cases")
        assert listed.status_code == 200, listed.text
        [case] = [c for c in listed.json()["cases"] if c["item_number"] == item_number]
        assert (case["state"], case["reason"]) == ("pending", reason)
        # An agent settles it, leaving no case waiting for the next tests' agents.
        await reject_next_case(desk, case["case_id"], "une autre date de naissance")
