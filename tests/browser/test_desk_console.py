"""The verification desk console in Chromium, as support staff use it all day (DESIGN §2
step 5): signed in through the platform's OpenID provider, on the platform as `make run`
configures it with that provider. Cases of both policies (the default identity document;
the CNB policy with its Kbis SIREN/SIRET, bar certificate and callback to the firm's
landline) go through every decision, triage is worked by a supervisor, axe-core checks the
queue, the case page and triage, and one agent works with the keyboard alone."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from deploy.local.seaweed import SeaweedS3
from tests.browser.console import (
    AGENT,
    LANDLINE,
    SUPERVISOR,
    ask_for_a_code,
    deposit_letter,
    focused,
    mail_without_reference,
    open_console,
    send_document,
    sign_in,
)
from tests.browser.harness import Walk
from tests.browser.letters import Visitor
from tests.browser.steps import at, code_sent_to
from tests.support import infra
from tests.support.fixtures import SmtpServer, TwilioApi
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform, platform_config

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# A passport valid for years: it satisfies both policies' identity rule.
PASSPORT = ("passport", "19AB12345", "2036-01-01")
VALID_SIREN, WRONG_SIREN = "732 829 320", "732 829 321"
# The recipient's birth date as a sender declares it, to compare with the documents.
BORN = date(1980, 5, 17)


Console = Callable[[str], Awaitable[Walk]]


# This module's own platform, with the OpenID provider the agents sign in with (the other
# browser tests' platform has none: their desk takes tokens signed with the local key).
@pytest.fixture(scope="module")
def platform_running(
    postgres_server: str,
    db_prefix: str,
    s3: SeaweedS3,
    smtp: SmtpServer,
    twilio_api: TwilioApi,
    test_pki: TestPki,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPlatform]:
    logs = tmp_path_factory.mktemp("logs-console")
    with infra.rabbitmq_url() as amqp_url:
        running = RunningPlatform(
            platform_config(
                amqp_url,
                postgres_server,
                db_prefix,
                s3,
                smtp,
                "console",
                twilio_api.url,
                logs / "dkim" / "key.pem",
            ),
            logs,
        )
        try:
            # A case waiting for the desk more than a minute shows as overdue.
            running.with_oidc().start_on_test_pki(
                test_pki, {"PICKUP_WAITING_REFRESH_SECONDS": "5", "VERIFICATION_DESK_TARGET_MINUTES": "1"}
            )
            yield running
        finally:
            running.stop_all()


@pytest.fixture(autouse=True)
def _patient_expectations() -> Iterator[None]:
    """The machine may be busy: an answer of the desk may take longer than the 5 s default."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture
async def console(
    browser: Browser, platform_running: RunningPlatform, screenshots: Path
) -> AsyncIterator[Console]:
    """Opens support staff's tabs; each is checked (no page left unseen) and closed at the end."""
    walks: list[Walk] = []

    async def open_tab(name: str) -> Walk:
        walk = await open_console(browser, platform_running, screenshots, name)
        walks.append(walk)
        return walk

    yield open_tab
    for walk in walks:
        await walk.page.context.close()
    for walk in walks:
        walk.finish()


async def settle(walk: Walk) -> None:
    """The recipient's tab, once the desk decided: on the page that says what comes next."""
    await walk.page.goto("/signature/code/attente")
    await expect(walk.page.get_by_role("heading", level=1)).to_be_visible()
    await walk.see("after the decision")


async def unmet_lines(page: Page) -> list[str]:
    return [text.strip() for text in await page.locator("#unmet li").all_inner_texts()]


async def claim_next(walk: Walk, item_number: str) -> Page:
    """Press "Prendre le suivant": the case of `item_number` opens, its heading focused."""
    page = walk.page
    await page.get_by_role("button", name="Prendre le suivant").click()
    await expect(page.get_by_role("heading", level=1, name=re.compile("^Dossier LRE-"))).to_be_focused()
    await expect(page.locator("#case-facts")).to_contain_text(item_number)
    return page


async def fill_line(page: Page, n: int, kind: str, document_type: str, number: str, day: str) -> None:
    line = page.locator(f'fieldset[data-line="{n}"]')
    await line.get_by_label("Nature").select_option(kind)
    await line.get_by_label("Type de document").fill(document_type)
    await line.locator("input[name=number]").fill(number)
    date_field = "expiry_date" if kind == "identity" else "issued_on"
    await line.locator(f"input[name={date_field}]").fill(day)


def declared_birth_date(page: Page, term: str) -> Locator:
    """The value of the case's fact `term` (the declared birth date's, in either language)."""
    return page.locator("#case-facts > div", has=page.locator("dt", has_text=term)).locator("dd")


async def decide(page: Page, choice: str, reason: str = "") -> None:
    await page.get_by_label(choice).check()
    if reason:
        await page.get_by_label("Motif").fill(reason)
    await page.get_by_role("button", name="Enregistrer la décision").click()


async def test_an_agent_approves_a_default_case_and_the_recipient_gets_the_code(
    platform_running: RunningPlatform,
    smtp: SmtpServer,
    senders: list[str],
    visitor: Visitor,
    console: Console,
) -> None:
    letter = await deposit_letter(platform_running, smtp, senders, birth_date=BORN)
    recipient = await visitor("recipient")
    waiting = await send_document(recipient, letter)

    agent: Walk = await console("agent")
    page = await sign_in(agent, AGENT)
    await expect(page.get_by_text("Connecté : Alex Agent")).to_be_visible()
    row = page.locator("#queue-rows tr", has_text=letter.item_number)
    await expect(row).to_contain_text("À examiner")
    await expect(row).to_contain_text("Standard")
    await expect(page.locator("#queue-target")).to_contain_text("moins de 1 min")

    page = await claim_next(agent, letter.item_number)
    # The birth date the sender declared, to compare with the card's.
    await expect(declared_birth_date(page, "Date de naissance déclarée")).to_have_text("17/05/1980")
    # The uploaded card, shown inline through its short-lived link.
    image = page.get_by_role("img", name="Justificatif carte-identite.png")
    await expect(image).to_be_visible()
    assert await image.evaluate("img => img.complete && img.naturalWidth > 0")
    # The policy's rule, as the server states it (in the agent's language), until a valid document.
    await expect(page.locator("#unmet")).to_contain_text("une pièce d'identité valide aujourd'hui")
    await fill_line(page, 1, "identity", *PASSPORT)
    await expect(page.locator("#unmet")).to_contain_text("La liste satisfait la politique.")
    await agent.see("case, checklist satisfied")

    await decide(page, "Approuver (le code est envoyé au destinataire)")
    await expect(page.locator("#case-result")).to_have_text(
        "Dossier approuvé : le code est envoyé au destinataire."
    )
    await expect(page.locator("#case-facts")).to_contain_text("Approuvé")
    timeline = page.locator("#audit")
    await expect(timeline).to_contain_text("vous (Alex Agent) a pris le dossier")
    await expect(timeline).to_contain_text("vous (Alex Agent) a approuvé le dossier")
    await expect(timeline).to_contain_text("Le destinataire a déposé un justificatif")
    await agent.see("case approved")

    await expect(waiting).to_have_url(at("/signature/code/saisie"), timeout=30_000)
    await recipient.see("code entry")
    assert re.fullmatch(r"\d{6,8}", await code_sent_to(smtp, letter.recipient.email))


async def test_a_professional_case_needs_its_kbis_bar_certificate_and_a_callback(
    platform_running: RunningPlatform,
    smtp: SmtpServer,
    senders: list[str],
    visitor: Visitor,
    console: Console,
) -> None:
    letter = await deposit_letter(platform_running, smtp, senders, policy="cnb", landline=LANDLINE)
    recipient = await visitor("recipient")
    waiting = await send_document(recipient, letter, pdf=True)

    agent: Walk = await console("agent")
    page = await sign_in(agent, AGENT)
    await expect(page.locator("#queue-rows tr", has_text=letter.item_number)).to_contain_text("CNB")
    page = await claim_next(agent, letter.item_number)
    # The sender declared no birth date: the case shows none.
    await expect(page.locator("#case-facts")).not_to_contain_text("Date de naissance")

    # The PDF in a frame, from a link of the desk that serves it as a PDF.
    frame = page.locator("iframe.pdf")
    await expect(frame).to_have_attribute("title", "Justificatif kbis-et-identite.pdf")
    source = await frame.get_attribute("src")
    assert source is not None
    async with httpx.AsyncClient(base_url=platform_running.config.desk_url) as http:
        shown = await http.get(source)
    assert shown.status_code == 200 and shown.headers["content-type"] == "application/pdf"

    # The CNB policy asks for three documents: one line each to start with.
    assert await page.locator("#checklist-lines fieldset").count() == 3
    await fill_line(page, 1, "identity", *PASSPORT)
    await fill_line(page, 2, "company_extract", "kbis", WRONG_SIREN, "2026-01-10")
    await expect(page.locator("#unmet")).to_contain_text(
        "SIREN/SIRET de l'extrait Kbis est invalide (clé de contrôle)"
    )
    await expect(page.get_by_label("SIREN ou SIRET")).to_be_visible()
    await page.locator('fieldset[data-line="2"] input[name=number]').fill(VALID_SIREN)
    await expect(page.locator("#unmet")).not_to_contain_text("clé de contrôle")
    # Not yet approvable: the bar certificate of this year is missing, and the server says so.
    await decide(page, "Approuver (le code est envoyé au destinataire)")
    await expect(page.locator("#case-result")).to_contain_text("Impossible d'approuver")
    assert any("attestation d'inscription au barreau délivrée en" in line for line in await unmet_lines(page))
    year = await page.evaluate("() => new Date().getFullYear()")
    await fill_line(page, 3, "bar_certificate", "attestation", "P-75-1234", f"{year}-01-05")
    await expect(page.locator("#unmet")).to_contain_text("La liste satisfait la politique.")

    # The firm's landline, and a call logged against it (what it established is required).
    callback = page.get_by_role("region", name="Rappel du cabinet")
    await expect(callback.get_by_role("link", name=LANDLINE)).to_have_attribute("href", f"tel:{LANDLINE}")
    await expect(page.get_by_label("Numéro appelé")).to_have_value(LANDLINE)
    await page.get_by_role("button", name="Enregistrer l'appel").click()
    outcome = page.get_by_label("Ce que l'appel a établi")
    await expect(outcome).to_have_attribute("aria-invalid", "true")
    await expect(outcome).to_be_focused()
    await outcome.fill("Le standard confirme : Me Martin attend ce pli.")
    await page.get_by_role("button", name="Enregistrer l'appel").click()
    await expect(page.locator("#callbacks")).to_contain_text(
        "Le standard confirme : Me Martin attend ce pli."
    )
    await expect(page.locator("#audit")).to_contain_text(f"a appelé le {LANDLINE}")
    await agent.see("case, professional policy")

    await decide(page, "Approuver (le code est envoyé au destinataire)")
    await expect(page.locator("#case-result")).to_have_text(
        "Dossier approuvé : le code est envoyé au destinataire."
    )
    await expect(waiting).to_have_url(at("/signature/code/saisie"), timeout=30_000)
    await recipient.see("code entry")
    assert re.fullmatch(r"\d{6,8}", await code_sent_to(smtp, letter.recipient.email))


async def test_one_case_is_rejected_and_another_sent_back_for_more_documents_with_their_reasons(
    platform_running: RunningPlatform,
    smtp: SmtpServer,
    senders: list[str],
    visitor: Visitor,
    console: Console,
) -> None:
    first = await deposit_letter(platform_running, smtp, senders)
    first_tab = await visitor("first recipient")
    await send_document(first_tab, first)
    second = await deposit_letter(platform_running, smtp, senders, policy="cnb", landline=LANDLINE)
    second_tab = await visitor("second recipient")
    await send_document(second_tab, second)

    agent: Walk = await console("agent")
    page = await sign_in(agent, AGENT)
    page = await claim_next(agent, first.item_number)
    await decide(page, "Rejeter")
    reason = page.get_by_label("Motif")
    await expect(reason).to_have_attribute("aria-invalid", "true")  # a reason is required
    await expect(reason).to_be_focused()
    await decide(page, "Rejeter", "La photo ne correspond pas au titulaire déclaré.")
    await expect(page.locator("#case-result")).to_have_text(
        "Dossier rejeté : le destinataire est informé du motif."
    )
    await expect(page.locator("#audit")).to_contain_text("a rejeté le dossier : La photo ne correspond pas")

    await page.get_by_role("link", name="Retour à la file d'attente").click()
    page = await claim_next(agent, second.item_number)
    await decide(
        page, "Demander d'autres justificatifs", "Merci d'envoyer aussi l'extrait Kbis de moins de 3 mois."
    )
    await expect(page.locator("#case-result")).to_have_text("Autres justificatifs demandés au destinataire.")
    await agent.see("case, more documents asked")

    # The second recipient reads the reason where they send documents.
    await second_tab.page.goto("/signature/code/justificatifs")
    await expect(second_tab.page.get_by_text("l'extrait Kbis de moins de 3 mois")).to_be_visible()
    await second_tab.see("more documents asked")
    await page.get_by_role("link", name="Retour à la file d'attente").click()
    await expect(page.locator("#queue-rows tr", has_text=second.item_number)).to_contain_text(
        "Autres justificatifs demandés"
    )
    await expect(page.locator("#queue-rows")).not_to_contain_text(first.item_number)  # closed
    await first_tab.page.goto("/signature/code/attente")
    await expect(first_tab.page.get_by_role("heading", level=1)).to_be_visible()
    await first_tab.see("rejected")


async def test_a_supervisor_files_an_unmatched_message_under_its_case(
    platform_running: RunningPlatform,
    smtp: SmtpServer,
    senders: list[str],
    visitor: Visitor,
    console: Console,
) -> None:
    letter = await deposit_letter(platform_running, smtp, senders)
    recipient = await visitor("recipient")
    await ask_for_a_code(recipient, letter, documents_by="email")
    await expect(recipient.page).to_have_url(at("/signature/code/attente"))
    await recipient.see("waiting, documents by email")
    subject = f"Pièce d'identité {letter.recipient.last_name} {letter.item_number[-4:]}"
    await asyncio.to_thread(
        mail_without_reference, platform_running, "cabinet.inconnu@exemple.example", subject
    )

    # An agent sees no triage; a supervisor does.
    agent: Walk = await console("agent")
    await sign_in(agent, AGENT)
    await expect(agent.page.get_by_role("link", name="Tri des messages")).to_be_hidden()

    supervisor: Walk = await console("supervisor")
    page = await sign_in(supervisor, SUPERVISOR)
    row = page.locator("#queue-rows tr", has_text=letter.item_number)
    await expect(row).to_contain_text("Justificatifs attendus")
    await expect(row).to_contain_text("Attend le destinataire")
    await page.get_by_role("link", name="Tri des messages").click()
    await expect(page.get_by_role("heading", level=1, name="Tri des messages")).to_be_focused()
    entry = page.locator("tr", has_text=subject)
    await expect(entry).to_be_visible(timeout=30_000)
    await supervisor.see("triage")
    await entry.get_by_role("button", name="Classer").click()
    target = entry.get_by_label(f"Dossier pour « {subject} »")
    await expect(target).to_have_attribute("aria-invalid", "true")  # choose a case first
    option = target.locator("option", has_text=letter.item_number)
    await target.select_option(await option.get_attribute("value"))
    await entry.get_by_role("button", name="Classer").click()
    await expect(page.locator("#triage-result")).to_have_text(
        "Message classé : 1 justificatif(s) rejoignent le dossier."
    )
    await expect(page.locator("tr", has_text=subject)).to_contain_text("Classé sous LRE-")
    await supervisor.see("triage, filed")

    # The case now waits for an agent, with the filed document, and its history says who filed it.
    await page.get_by_role("link", name="File d'attente").click()
    row = page.locator("#queue-rows tr", has_text=letter.item_number)
    await expect(row).to_contain_text("À examiner")
    await row.get_by_role("link", name=letter.item_number).click()
    await expect(page.get_by_role("img", name="Justificatif piece.png")).to_be_visible()
    await expect(page.locator("#audit")).to_contain_text(
        "vous (Sam Supervisor) a classé un message du tri dans ce dossier (1 justificatif(s))"
    )
    await supervisor.see("case filed from triage, read only")
    # Leave the queue as found: the supervisor claims the case and asks for more documents.
    await page.get_by_role("link", name="Retour à la file d'attente").click()
    page = await claim_next(supervisor, letter.item_number)
    await decide(page, "Demander d'autres justificatifs", "Document illisible.")
    await expect(page.locator("#case-result")).to_have_text("Autres justificatifs demandés au destinataire.")
    await settle(recipient)

    # Signing out ends the session on the server, then at the provider.
    async with page.expect_navigation():
        await page.get_by_role("button", name="Se déconnecter").click()
    await page.wait_for_url(lambda url: "/desk/auth/logout" not in url, timeout=30_000)
    await page.wait_for_load_state("networkidle")
    assert (await page.request.get("/desk/auth/session")).status == 401
    await page.goto("/desk/")
    await expect(page.get_by_role("button", name="Se connecter")).to_be_visible()
    await supervisor.see("signed out")


async def test_the_queue_updates_by_itself_keeping_the_focus_and_the_language_is_remembered(
    platform_running: RunningPlatform,
    smtp: SmtpServer,
    senders: list[str],
    visitor: Visitor,
    console: Console,
) -> None:
    agent: Walk = await console("agent")
    page = await sign_in(agent, AGENT)
    claim = page.get_by_role("button", name="Prendre le suivant")
    await claim.focus()

    letter = await deposit_letter(platform_running, smtp, senders, birth_date=BORN)
    recipient = await visitor("recipient")
    await send_document(recipient, letter)
    # A new case appears without reloading; the focus stays where the agent left it.
    row = page.locator("#queue-rows tr", has_text=letter.item_number)
    await expect(row).to_be_visible(timeout=30_000)
    await expect(row).to_contain_text("Dans les temps")
    await expect(claim).to_be_focused()
    # Past the desk's target (a minute here), the row says so in words and an icon, not only colour.
    await expect(row).to_contain_text("En retard", timeout=120_000)
    await expect(row.locator(".icon")).to_have_text("⚠")
    await expect(row).to_have_class(re.compile("overdue"))
    await expect(page.locator("#queue-caption")).to_contain_text(re.compile(r"dont [1-9][0-9]* en retard"))
    await expect(claim).to_be_focused()

    # English, switched once, stays English after a reload.
    await page.get_by_role("button", name="Switch to English").click()
    await expect(page.get_by_role("heading", level=1, name="Queue")).to_be_visible()
    await expect(page.get_by_role("button", name="Switch to English")).to_be_hidden()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.reload()
    await expect(page.get_by_role("button", name="Claim next")).to_be_visible()
    await expect(page.locator("#queue-rows tr", has_text=letter.item_number)).to_contain_text("To review")
    await agent.see("queue, in English")
    await page.get_by_role("button", name="Claim next").click()
    await expect(page.get_by_role("heading", level=1, name=re.compile("^Case LRE-"))).to_be_focused()
    await expect(declared_birth_date(page, "Declared birth date")).to_have_text("17 May 1980")
    await expect(page.locator("#unmet")).to_contain_text("does not satisfy the policy yet")
    await page.get_by_label("Approve (the code goes to the recipient)").check()
    await page.get_by_label("Ask for more documents").check()
    await page.get_by_label("Reason").fill("Blurred photo.")
    await page.get_by_role("button", name="Record the decision").click()
    await expect(page.locator("#case-result")).to_have_text("More documents requested from the recipient.")
    await expect(page.locator("#audit")).to_contain_text(
        "you (Alex Agent) asked for more documents: Blurred photo."
    )
    await agent.see("case, in English")
    await settle(recipient)

    # The session ends on the server (cookie gone): the next call says so and offers to sign in.
    await page.context.clear_cookies()
    await page.get_by_role("link", name="Back to the queue").click()
    await expect(page.get_by_role("heading", level=1, name="Session expired")).to_be_visible(timeout=20_000)
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await agent.see("session expired")


async def test_an_agent_signs_in_claims_checks_and_approves_with_the_keyboard_alone(
    platform_running: RunningPlatform,
    smtp: SmtpServer,
    senders: list[str],
    visitor: Visitor,
    console: Console,
) -> None:
    letter = await deposit_letter(platform_running, smtp, senders)
    recipient = await visitor("recipient")
    waiting = await send_document(recipient, letter)

    agent: Walk = await console("agent")
    page = await sign_in(agent, AGENT, keyboard=True)
    keys = page.keyboard
    # The shortcuts are documented on the page.
    await expect(page.get_by_role("heading", name="Raccourcis clavier")).to_be_visible()
    await expect(page.locator("#shortcuts-list")).to_contain_text("prendre le dossier suivant")

    await keys.press("n")  # claim next
    await expect(page.get_by_role("heading", level=1, name=re.compile("^Dossier LRE-"))).to_be_focused()
    await expect(page.locator("#case-facts")).to_contain_text(letter.item_number)

    async def tab_to(selector: str, limit: int = 60) -> None:
        target = page.locator(selector)
        for _ in range(limit):
            if await target.evaluate("e => e === document.activeElement"):
                return
            await keys.press("Tab")
        raise AssertionError(f"Tab never reached {selector}; focus on {await focused(page)}")

    # The focus is visible wherever it lands.
    await tab_to('fieldset[data-line="1"] input[name=document_type]')
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", outline
    await keys.type(PASSPORT[0])
    await keys.press("Tab")
    await keys.type(PASSPORT[1])
    await keys.press("Tab")
    # A date field takes the digits in the locale's order (dd/mm/yyyy in French).
    year, month, day_ = PASSPORT[2].split("-")
    await keys.type(day_ + month + year)
    await expect(page.locator("#unmet")).to_contain_text("La liste satisfait la politique.")

    await tab_to("#outcome-approved")
    await keys.press("Enter")  # submits the decision form
    await expect(page.locator("#case-result")).to_have_text(
        "Dossier approuvé : le code est envoyé au destinataire."
    )
    await expect(page.get_by_role("heading", level=1, name=re.compile("^Dossier LRE-"))).to_be_focused()
    await agent.see("case approved by keyboard")

    await keys.press("f")  # back to the queue
    await expect(page.get_by_role("heading", level=1, name="File d'attente")).to_be_focused()
    await expect(waiting).to_have_url(at("/signature/code/saisie"), timeout=30_000)
    await recipient.see("code entry")
