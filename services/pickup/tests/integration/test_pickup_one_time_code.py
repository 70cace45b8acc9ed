"""Signing the acknowledgement of receipt with a one-time code, through the site: the case
opened at the verification desk over the bus, the identity document uploaded, the desk's
decision consumed from the bus (VerificationDecided), the code checked, and every other
outcome's page. The desk's answers are given by a responder on the bus: the desk itself is
tested with the verification service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from deploy.local.demo import DEMO_RECIPIENT
from lre_shared.contracts import (
    AddIdentityDocument,
    CaseState,
    CheckCode,
    CodeChecked,
    CodeProblem,
    CodeRequested,
    IdentityDocumentAdded,
    Message,
    OpenVerificationCase,
    ReceiptSigned,
    RequestCode,
    SignatureMethod,
    VerificationCaseOpened,
    VerificationDecided,
    now_utc,
)
from services.pickup.tests.integration.recipients import (
    Pickup,
    Responders,
    accepted,
    answering,
    csrf,
    deposit,
    deposited,
    error_of,
    send_file,
    switch_language,
    wait_for_row,
)
from tests.support.bus import Probe, publish
from tests.support.documents import image, png_bomb, zip_of

pytestmark = pytest.mark.integration

PHOTO = image("PNG")
RIGHT_CODE = "482913"


@dataclass
class Desk:
    """The verification desk as the site sees it: a case per letter, one right code."""

    case_id: uuid.UUID = field(default_factory=uuid.uuid4)
    problem: CodeProblem | None = None
    tries_left: int = 2
    code_request: CodeRequested | None = None
    refuse_document: str | None = None

    def open(self, query: OpenVerificationCase) -> VerificationCaseOpened:
        return VerificationCaseOpened(
            correlation_id=query.correlation_id,
            case_id=self.case_id,
            reference="LRE-7K3M9Q",
            state=CaseState.awaiting_documents,
            inbound_email="justificatifs@lre.example",
            inbound_mms="+33700000001",
            inbound_fax="+33100000002",
            max_document_bytes=5 * 1024 * 1024,
        )

    def add(self, query: AddIdentityDocument) -> IdentityDocumentAdded:
        if self.refuse_document:
            return IdentityDocumentAdded(
                correlation_id=query.correlation_id, accepted=False, reason=self.refuse_document
            )
        return IdentityDocumentAdded(
            correlation_id=query.correlation_id,
            accepted=True,
            document_id=uuid.uuid4(),
            state=CaseState.pending,
        )

    def check(self, query: CheckCode) -> CodeChecked:
        if self.problem is None and query.code.replace(" ", "") == RIGHT_CODE:
            return CodeChecked(correlation_id=query.correlation_id, valid=True, case_id=self.case_id)
        problem = self.problem or CodeProblem.wrong
        left = self.tries_left if problem is CodeProblem.wrong else None
        return CodeChecked(correlation_id=query.correlation_id, valid=False, problem=problem, tries_left=left)

    def request(self, query: RequestCode) -> CodeRequested:
        return self.code_request or CodeRequested(correlation_id=query.correlation_id, issued=True)

    def answers(self) -> dict[type[Message], Any]:
        return {
            OpenVerificationCase: self.open,
            AddIdentityDocument: self.add,
            CheckCode: self.check,
            RequestCode: self.request,
        }


@dataclass
class AtTheDesk:
    desk: Desk
    asked: Responders


@pytest.fixture
async def desk(pickup: Pickup) -> AsyncIterator[AtTheDesk]:
    verification = Desk()
    async with answering(pickup.amqp_url, verification.answers()) as asked:
        yield AtTheDesk(verification, asked)


async def ask_for_code(
    site: httpx.AsyncClient, document_channel: str, code_channel: str = "email"
) -> httpx.Response:
    page = await site.get("/signature/code")
    assert page.status_code == 200, page.text
    return await site.post(
        "/signature/code",
        data={"csrf_token": csrf(page), "document_channel": document_channel, "code_channel": code_channel},
    )


async def decided(
    pickup: Pickup, letter_id: uuid.UUID, case_id: uuid.UUID, outcome: str, reason: str = ""
) -> None:
    """The desk decides, as the verification service announces it on the bus."""
    await publish(
        pickup.amqp_url,
        VerificationDecided(
            correlation_id=letter_id,
            case_id=case_id,
            item_number="000000000000",
            outcome=outcome,  # type: ignore[arg-type]
            reason=reason or None,
            decided_at=now_utc(),
        ),
    )
    await wait_for_row(
        pickup, f"letter_id = '{letter_id}' AND state = '{outcome}'", table="verification_cases"
    )


async def approved_session(pickup: Pickup, desk: AtTheDesk, site: httpx.AsyncClient) -> uuid.UUID:
    """A letter accepted, its case opened by email and approved: the browser is at code entry."""
    event = await deposit(pickup.amqp_url, pickup)
    await accepted(site, event.item_number)
    await ask_for_code(site, "email")
    await decided(pickup, event.correlation_id, desk.desk.case_id, "approved")
    return event.correlation_id


async def enter(site: httpx.AsyncClient, code: str) -> httpx.Response:
    page = await site.get("/signature/code/saisie")
    assert page.status_code == 200, page.text
    return await site.post("/signature/code/saisie", data={"csrf_token": csrf(page), "code": code})


# ------------------------------------------------------------------ asking for a code


async def test_the_whole_code_path_uploads_waits_for_the_desk_and_signs_with_the_code(
    pickup: Pickup, desk: AtTheDesk, probe: Probe
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await accepted(site, event.item_number)
        answer = await ask_for_code(site, "upload")
        assert answer.headers["location"] == "/signature/code/justificatifs"
        page = await site.get("/signature/code/justificatifs")
        assert "LRE-7K3M9Q" in page.text
        assert '<script src="/static/preview.js" defer></script>' in page.text
        assert "5 Mo" in page.text  # the desk's limit, stated
        answer = await site.post(
            "/signature/code/justificatifs",
            data={"csrf_token": csrf(page)},
            files={"document": ("carte d'identité.png", PHOTO, "image/png")},
        )
        assert answer.headers["location"] == "/signature/code/attente"
        waiting = await site.get("/signature/code/attente")
        assert "Vérification de votre identité en cours" in waiting.text
        assert 'data-case-state="pending"' in waiting.text
        assert (await site.get("/signature/code/etat")).json() == {"state": "pending"}

        await decided(pickup, event.correlation_id, desk.desk.case_id, "approved")

        assert (await site.get("/signature/code/etat")).json() == {"state": "approved"}
        assert (await site.get("/signature/code/attente")).headers["location"] == "/signature/code/saisie"
        signed = await enter(site, "482 913")
        assert signed.headers["location"] == "/courrier"
        assert (await site.get("/courrier")).status_code == 200

    opened = desk.asked.of(OpenVerificationCase)
    assert [(q.item_number, q.document_channel, q.code_channel) for q in opened] == [
        (event.item_number, "upload", "email")
    ]
    assert opened[0].code_address == DEMO_RECIPIENT.email  # the declared address, never a typed one
    uploaded = desk.asked.of(AddIdentityDocument)
    assert [(q.case_id, q.filename, q.content) for q in uploaded] == [
        (desk.desk.case_id, "carte d'identité.png", PHOTO)
    ]
    announced = ReceiptSigned.model_validate_json(
        (await probe.wait_for(ReceiptSigned.routing_key, event.correlation_id)).body
    )
    assert announced.method is SignatureMethod.one_time_code
    assert announced.case_id == desk.desk.case_id
    assert announced.signer_name == "Camille Martin"
    await asyncio.sleep(0.5)
    assert len(probe.of(ReceiptSigned.routing_key, event.correlation_id)) == 1


@pytest.mark.parametrize(
    ("channel", "where"),
    [
        ("email", "par e-mail à justificatifs@lre.example"),
        ("mms", "par MMS au +33700000001"),
        ("fax", "par fax au +33100000002"),
    ],
)
async def test_the_waiting_page_says_where_to_send_the_documents_and_the_reference(
    pickup: Pickup, desk: AtTheDesk, channel: str, where: str
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await accepted(site, event.item_number)
        answer = await ask_for_code(site, channel)
        assert answer.headers["location"] == "/signature/code/attente"
        page = await site.get("/signature/code/attente")

    assert where in page.text
    assert "LRE-7K3M9Q" in page.text
    assert "vous recevrez votre code de signature par e-mail" in page.text
    assert '<script src="/static/waiting.js" defer></script>' in page.text
    assert "<script>" not in page.text


async def test_sms_is_offered_only_to_a_recipient_who_declared_a_mobile(
    pickup: Pickup, desk: AtTheDesk
) -> None:
    without = await deposit(pickup.amqp_url, pickup)
    mobile = DEMO_RECIPIENT.model_copy(update={"mobile": "+33612345678"})
    with_mobile = await deposit(pickup.amqp_url, pickup, deposited(recipient=mobile))
    async with pickup.browser() as site:
        await accepted(site, without.item_number)
        page = await site.get("/signature/code")
        assert 'value="sms"' not in page.text
        refused = await ask_for_code(site, "email", "sms")
    async with pickup.browser() as site:
        await accepted(site, with_mobile.item_number)
        page = await site.get("/signature/code")
        assert 'value="sms"' in page.text
        assert "+33612345678" not in page.text  # shown masked
        answer = await ask_for_code(site, "fax", "sms")

    assert refused.status_code == 422
    assert error_of(refused, "code_channel") == "Choisissez comment recevoir votre code."
    assert answer.status_code == 303
    opened = desk.asked.of(OpenVerificationCase)
    assert [(q.code_channel, q.code_address) for q in opened] == [("sms", "+33612345678")]


async def test_a_refused_identity_document_is_shown_on_its_field(pickup: Pickup, desk: AtTheDesk) -> None:
    desk.desk.refuse_document = "type de fichier non accepté (PDF, JPEG ou PNG)"
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await accepted(site, event.item_number)
        await ask_for_code(site, "upload")
        answer = await send_file(
            site, "/signature/code/justificatifs", "document", ("scan.png", PHOTO, "image/png")
        )

    assert answer.status_code == 422
    assert (
        error_of(answer, "document") == "Justificatif refusé : type de fichier non accepté (PDF, JPEG ou PNG)"
    )


async def test_a_hostile_identity_document_re_renders_the_form_saying_why_and_reaches_no_one(
    pickup: Pickup, desk: AtTheDesk
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await accepted(site, event.item_number)
        await ask_for_code(site, "upload")
        polyglot = await send_file(
            site,
            "/signature/code/justificatifs",
            "document",
            ("cni.jpg", image("JPEG") + zip_of(), "image/jpeg"),
        )
        await switch_language(site, polyglot, "en")
        bomb = await send_file(
            site,
            "/signature/code/justificatifs",
            "document",
            ("cni.png", png_bomb(10_000, 10_000), "image/png"),
        )

    assert polyglot.status_code == 422
    assert '<form method="post" action="/signature/code/justificatifs"' in polyglot.text
    assert error_of(polyglot, "document") == (
        "Justificatif refusé : des données suivent la fin de l'image. Déposez l'image seule."
    )
    assert bomb.status_code == 422
    assert error_of(bomb, "document") == (
        "Document refused: the image is too large (10000 × 10000 pixels): the limit is 50 megapixels."
        " Reduce its resolution and try again."
    )
    assert not desk.asked.of(AddIdentityDocument)
    documents_sent = await pickup.runtime.pool.fetchval(
        "SELECT documents_sent FROM verification_cases WHERE letter_id = $1", event.correlation_id
    )
    assert documents_sent == 0


async def test_a_rejected_identity_shows_the_reason(pickup: Pickup, desk: AtTheDesk) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await accepted(site, event.item_number)
        await ask_for_code(site, "email")
        await decided(pickup, event.correlation_id, desk.desk.case_id, "rejected", "pièce d'identité expirée")
        page = await site.get("/signature/code/attente")
        entry = await site.get("/signature/code/saisie")

    assert "Identité non vérifiée" in page.text
    assert "pièce d&#39;identité expirée" in page.text
    assert entry.headers["location"] == "/signature/code/attente"


async def test_more_documents_asked_by_the_desk_sends_the_recipient_back_to_the_upload(
    pickup: Pickup, desk: AtTheDesk
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await accepted(site, event.item_number)
        await ask_for_code(site, "upload")
        await decided(
            pickup, event.correlation_id, desk.desk.case_id, "more_documents", "extrait Kbis manquant"
        )
        waiting = await site.get("/signature/code/attente")
        upload = await site.get("/signature/code/justificatifs")

    assert "Justificatif complémentaire demandé" in waiting.text
    assert "extrait Kbis manquant" in waiting.text
    assert 'href="/signature/code/justificatifs"' in waiting.text
    assert upload.status_code == 200
    assert "extrait Kbis manquant" in upload.text


async def test_an_older_decision_arriving_late_does_not_undo_a_newer_one(
    pickup: Pickup, desk: AtTheDesk
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await accepted(site, event.item_number)
        await ask_for_code(site, "email")
    older = VerificationDecided(
        correlation_id=event.correlation_id,
        case_id=desk.desk.case_id,
        item_number=event.item_number,
        outcome="more_documents",
        decided_at=now_utc(),
    )
    await decided(pickup, event.correlation_id, desk.desk.case_id, "approved")
    await publish(pickup.amqp_url, older)
    await asyncio.sleep(1.0)

    state = await pickup.runtime.pool.fetchval(
        "SELECT state FROM verification_cases WHERE letter_id = $1", event.correlation_id
    )
    assert state == "approved"


# ------------------------------------------------------------------------ code entry


async def test_a_wrong_code_says_how_many_tries_are_left(
    pickup: Pickup, desk: AtTheDesk, probe: Probe
) -> None:
    async with pickup.browser() as site:
        letter_id = await approved_session(pickup, desk, site)
        answer = await enter(site, "000000")

    assert answer.status_code == 422
    assert error_of(answer, "code") == "Ce code n'est pas le bon. Il vous reste 2 essai(s)."
    await asyncio.sleep(0.3)
    assert not probe.of(ReceiptSigned.routing_key, letter_id)


@pytest.mark.parametrize(
    ("problem", "status", "title"),
    [
        (CodeProblem.expired, 410, "Code expiré"),
        (CodeProblem.used, 410, "Code déjà utilisé"),
        (CodeProblem.locked, 429, "Code bloqué"),
    ],
)
async def test_an_expired_used_or_locked_code_has_its_page_with_a_new_code_button(
    pickup: Pickup, desk: AtTheDesk, problem: CodeProblem, status: int, title: str
) -> None:
    desk.desk.problem = problem
    async with pickup.browser() as site:
        await approved_session(pickup, desk, site)
        answer = await enter(site, RIGHT_CODE)

    assert answer.status_code == status
    assert f"<h1>{title}</h1>" in answer.text
    assert 'action="/signature/code/nouveau"' in answer.text
    assert "Demander un nouveau code" in answer.text


async def test_a_new_code_is_requested_and_a_throttled_request_says_how_long_to_wait(
    pickup: Pickup, desk: AtTheDesk
) -> None:
    desk.desk.problem = CodeProblem.expired
    async with pickup.browser() as site:
        letter_id = await approved_session(pickup, desk, site)
        expired = await enter(site, RIGHT_CODE)
        issued = await site.post("/signature/code/nouveau", data={"csrf_token": csrf(expired)})
        desk.desk.code_request = CodeRequested(
            correlation_id=letter_id, issued=False, reason="trop tôt", retry_after_seconds=42
        )
        throttled = await site.post("/signature/code/nouveau", data={"csrf_token": csrf(issued)})

    assert issued.status_code == 200
    assert "Un nouveau code vous a été envoyé." in issued.text
    assert throttled.status_code == 429
    assert "Patientez 42 secondes avant d&#39;en demander un nouveau." in throttled.text
    assert [q.correlation_id for q in desk.asked.of(RequestCode)] == [letter_id, letter_id]
