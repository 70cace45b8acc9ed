"""Signing the acknowledgement of receipt with a personal certificate, through the site: the
AR comes from the signer over the bus, the signed upload goes back to it for the check, and
an accepted one is recorded and announced once (ReceiptSigned). The signer's answers are
given by a responder on the bus: its own checks are tested with the signer."""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from lre_shared.contracts import (
    CheckSignedReceipt,
    IssueReceiptForm,
    LetterDeposited,
    ReceiptFormIssued,
    ReceiptProblem,
    ReceiptSigned,
    SignatureMethod,
    SignedReceiptChecked,
)
from pickup.service_layer import signature
from services.pickup.tests.integration.recipients import (
    Pickup,
    accepted,
    answering,
    csrf,
    deposit,
    deposited,
    error_of,
    send_file,
    started_pickup,
    switch_language,
)
from tests.support.bus import Probe
from tests.support.documents import blank_pdf, signed_pdf, with_document_javascript

pytestmark = pytest.mark.integration

AR = blank_pdf()  # the AR as the signer issues it
SIGNED = signed_pdf(AR)  # an incremental revision with the recipient's signature field


def issued(query: IssueReceiptForm) -> ReceiptFormIssued:
    return ReceiptFormIssued(
        correlation_id=query.correlation_id,
        filename="ar_000000000000.pdf",
        pdf=AR,
        sha256=hashlib.sha256(AR).hexdigest(),
    )


def accepting(query: CheckSignedReceipt) -> SignedReceiptChecked:
    return SignedReceiptChecked(
        correlation_id=query.correlation_id,
        accepted=True,
        detail="signature valide",
        signer_name="Camille Martin",
    )


async def test_only_the_methods_the_letter_allows_are_offered(pickup: Pickup) -> None:
    event = await deposit(pickup.amqp_url, pickup, deposited(methods=(SignatureMethod.certificate,)))
    async with pickup.browser() as site:
        page = await accepted(site, event.item_number)
        assert page.status_code == 200
        assert 'href="/signature/certificat"' in page.text
        assert 'href="/signature/code"' not in page.text
        refused = await site.get("/signature/code")
    assert refused.status_code == 303
    assert refused.headers["location"] == "/signature"


async def test_the_ar_downloads_as_the_signer_issued_it(pickup: Pickup) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with answering(pickup.amqp_url, {IssueReceiptForm: issued}) as signer, pickup.browser() as site:
        await accepted(site, event.item_number)
        pdf = await site.get("/signature/certificat/avis.pdf")

    assert pdf.status_code == 200
    assert pdf.content == AR
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'attachment; filename="ar_000000000000.pdf"'
    assert [q.correlation_id for q in signer.of(IssueReceiptForm)] == [event.correlation_id]


async def test_an_ar_the_signer_cannot_draw_just_after_acceptance_asks_to_retry_later_is_a_problem(
    pickup: Pickup,
) -> None:
    def not_ready(query: IssueReceiptForm) -> ReceiptFormIssued:
        return ReceiptFormIssued(
            correlation_id=query.correlation_id,
            filename="",
            pdf=b"",
            sha256=None,
            reason="the letter's acceptance is not recorded yet",
        )

    event = await deposit(pickup.amqp_url, pickup)
    async with answering(pickup.amqp_url, {IssueReceiptForm: not_ready}), pickup.browser() as site:
        await accepted(site, event.item_number)
        fresh = await site.get("/signature/certificat/avis.pdf")
        await pickup.runtime.pool.execute(
            "UPDATE letters SET decided_at = decided_at - interval '10 minutes' WHERE letter_id = $1",
            event.correlation_id,
        )
        stale = await site.get("/signature/certificat/avis.pdf")

    # The signer hears of the acceptance by the bus a moment after the site: retry shortly.
    assert fresh.status_code == 503
    assert 'href="/signature/certificat/avis.pdf"' in fresh.text
    assert stale.status_code == 409
    assert "acceptance is not recorded yet" in stale.text


async def test_an_accepted_signed_ar_is_recorded_announced_once_and_opens_the_downloads(
    pickup: Pickup, probe: Probe
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with (
        answering(pickup.amqp_url, {CheckSignedReceipt: accepting}) as signer,
        pickup.browser() as site,
    ):
        page = await accepted(site, event.item_number)
        assert (await site.get("/courrier")).headers["location"] == "/signature"
        page = await site.get("/signature/certificat")
        assert "10 Mo" in page.text  # the size limit is stated
        answer = await site.post(
            "/signature/certificat",
            data={"csrf_token": csrf(page)},
            files={"receipt": ("ar signé.pdf", SIGNED, "application/pdf")},
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/courrier"
        letter = await site.get("/courrier")

    assert letter.status_code == 200
    assert event.sender.name in letter.text  # CPCE R.53-3: accepted, the sender is named
    assert [q.pdf for q in signer.of(CheckSignedReceipt)] == [SIGNED]
    signed = ReceiptSigned.model_validate_json(
        (await probe.wait_for(ReceiptSigned.routing_key, event.correlation_id)).body
    )
    assert signed.method is SignatureMethod.certificate
    assert signed.signer_name == "Camille Martin"
    assert signed.receipt_sha256 == hashlib.sha256(SIGNED).hexdigest()
    assert signed.item_number == event.item_number
    row = await pickup.runtime.pool.fetchrow(
        "SELECT signed_at, signature_method, signer_name FROM letters WHERE letter_id = $1",
        event.correlation_id,
    )
    assert row["signed_at"] == signed.signed_at
    assert (row["signature_method"], row["signer_name"]) == ("certificate", "Camille Martin")
    await asyncio.sleep(0.5)
    assert len(probe.of(ReceiptSigned.routing_key, event.correlation_id)) == 1


REVOKED_AT = datetime(2021, 1, 1, 9, 30, tzinfo=UTC)  # 10:30 in Paris
SIGNED_AT = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)  # 15:05 in Paris


def refusing(problem: ReceiptProblem, **facts: object) -> object:
    """The signer's refusal, with its technical detail in English and the facts behind it."""

    def answer(query: CheckSignedReceipt) -> SignedReceiptChecked:
        return SignedReceiptChecked(
            correlation_id=query.correlation_id,
            accepted=False,
            problem=problem,
            detail=f"technical finding: {problem}",
            **facts,  # type: ignore[arg-type]
        )

    return answer


CERTIFICATE = {"signer_name": "Camille Martin", "certificate_issuer": "LRE TEST Intermediate CA"}
STAMPED = {**CERTIFICATE, "judged_at": SIGNED_AT, "timestamped": True}
RECEIVED = {**CERTIFICATE, "judged_at": SIGNED_AT, "timestamped": False}

# Each reason: the signer's facts, then (message, detail line) in French and in English.
REASONS: dict[ReceiptProblem, tuple[dict[str, object], tuple[str, str], tuple[str, str]]] = {
    ReceiptProblem.expired: (
        {**STAMPED, "problem_at": REVOKED_AT},
        (
            "Votre certificat avait expiré au moment de la signature.",
            "le certificat de Camille Martin a expiré le 01/01/2021 à 10:30 ; vérifié à l'heure de la"
            " signature attestée par son horodatage, le 02/03/2026 à 15:05.",
        ),
        (
            "Your certificate had expired when you signed.",
            "the certificate of Camille Martin expired on 01/01/2021 at 10:30; checked at the signing"
            " time its timestamp proves, 02/03/2026 at 15:05.",
        ),
    ),
    ReceiptProblem.not_yet_valid: (
        {**RECEIVED, "problem_at": datetime(2090, 1, 1, tzinfo=UTC)},
        (
            "Votre certificat n'était pas encore valable au moment de la signature.",
            "le certificat de Camille Martin n'est valable qu'à partir du 01/01/2090 à 01:00 ; vérifié à"
            " la réception de l'avis signé, le 02/03/2026 à 15:05 (la signature n'est pas horodatée).",
        ),
        (
            "Your certificate was not valid yet when you signed.",
            "the certificate of Camille Martin is valid only from 01/01/2090 at 01:00; checked when the"
            " signed acknowledgement was received, 02/03/2026 at 15:05 (the signature has no timestamp).",
        ),
    ),
    ReceiptProblem.revoked: (
        {**RECEIVED, "problem_at": REVOKED_AT},
        (
            "Votre certificat a été révoqué.",
            "le certificat de Camille Martin a été révoqué le 01/01/2021 à 10:30 ; vérifié à la"
            " réception de l'avis signé, le 02/03/2026 à 15:05 (la signature n'est pas horodatée).",
        ),
        (
            "Your certificate has been revoked.",
            "the certificate of Camille Martin was revoked on 01/01/2021 at 10:30; checked when the"
            " signed acknowledgement was received, 02/03/2026 at 15:05 (the signature has no timestamp).",
        ),
    ),
    ReceiptProblem.untrusted: (
        {"signer_name": "Camille Martin", "certificate_issuer": "LRE TEST Untrusted CA"},
        (
            "Votre certificat n'est pas délivré par une autorité reconnue par ce service.",
            "le certificat de Camille Martin est délivré par « LRE TEST Untrusted CA », qui ne fait pas"
            " partie des autorités reconnues par ce service.",
        ),
        (
            "Your certificate is not issued by an authority this service trusts.",
            "the certificate of Camille Martin is issued by “LRE TEST Untrusted CA”, which is not among"
            " the authorities this service trusts.",
        ),
    ),
    ReceiptProblem.wrong_key_usage: (
        RECEIVED,
        (
            "Votre certificat n'est pas un certificat de signature",
            "l'usage de la clé du certificat de Camille Martin ne comprend ni la signature numérique ni"
            " la non-répudiation.",
        ),
        (
            "Your certificate is not a signing certificate",
            "the key usage of the certificate of Camille Martin allows neither digital signature nor"
            " non-repudiation.",
        ),
    ),
    ReceiptProblem.name_mismatch: (
        {"signer_name": "Dominique Durand", "certificate_issuer": "LRE TEST Intermediate CA"},
        (
            "Le certificat est au nom d'une autre personne que le destinataire du courrier.",
            "le certificat est au nom de Dominique Durand ; le destinataire du courrier est Camille Martin.",
        ),
        (
            "The certificate is in the name of someone other than the letter's recipient.",
            "the certificate is in the name of Dominique Durand; the letter's recipient is Camille Martin.",
        ),
    ),
    ReceiptProblem.signature_broken: (
        CERTIFICATE,
        (
            "La signature ne correspond pas au contenu du document.",
            "la signature de Camille Martin ne correspond plus au contenu du document : il a été altéré"
            " après la signature.",
        ),
        (
            "The signature does not match the document's content.",
            "the signature of Camille Martin no longer matches the document's content: it was altered"
            " after signing.",
        ),
    ),
    ReceiptProblem.modified_after_signing: (
        CERTIFICATE,
        (
            "Le document a été modifié après sa signature.",
            "des modifications ont été enregistrées dans le document après la signature de Camille"
            " Martin : la signature ne couvre pas tout le document.",
        ),
        (
            "The document was changed after it was signed.",
            "changes were saved into the document after Camille Martin signed it: the signature does not"
            " cover the whole document.",
        ),
    ),
    ReceiptProblem.not_our_receipt: (
        CERTIFICATE,
        (
            "Le document signé n'est pas l'avis de réception émis pour ce courrier",
            "le document signé par Camille Martin n'est pas, octet pour octet, l'avis de réception émis"
            " pour ce courrier.",
        ),
        (
            "The signed document is not the acknowledgement of receipt issued for this letter",
            "the document Camille Martin signed is not, byte for byte, the acknowledgement of receipt"
            " issued for this letter.",
        ),
    ),
}


def detail_of(page: httpx.Response) -> str:
    found = re.search(r'<p class="detail">([^<]+)</p>', page.text)
    assert found, page.text
    return html.unescape(found.group(1))


@pytest.mark.parametrize("problem", list(REASONS), ids=str)
@pytest.mark.parametrize("language", ["fr", "en"])
async def test_each_refusal_reason_has_its_message_and_detail_line_in_the_pages_language(
    pickup: Pickup, probe: Probe, problem: ReceiptProblem, language: str
) -> None:
    facts, french, english = REASONS[problem]
    message, detail = french if language == "fr" else english
    found = "Constat de la vérification : " if language == "fr" else "What the check found: "
    event = await deposit(pickup.amqp_url, pickup)
    async with (
        answering(pickup.amqp_url, {CheckSignedReceipt: refusing(problem, **facts)}),
        pickup.browser() as site,
    ):
        page = await accepted(site, event.item_number)
        await switch_language(site, page, language)
        answer = await send_file(
            site, "/signature/certificat", "receipt", ("ar.pdf", SIGNED, "application/pdf")
        )
        downloads = await site.get("/courrier")

    assert answer.status_code == 422
    assert f'<html lang="{language}">' in answer.text
    assert message in error_of(answer, "receipt")
    assert detail_of(answer) == found + detail
    assert "technical finding" not in answer.text  # the signer's English is for logs and support
    assert 'role="alert"' in answer.text
    assert downloads.headers["location"] == "/signature"
    await asyncio.sleep(0.3)
    assert not probe.of(ReceiptSigned.routing_key, event.correlation_id)


async def test_a_file_that_is_not_a_pdf_is_refused_without_asking_the_signer(pickup: Pickup) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with (
        answering(pickup.amqp_url, {CheckSignedReceipt: accepting}) as signer,
        pickup.browser() as site,
    ):
        await accepted(site, event.item_number)
        answer = await send_file(
            site,
            "/signature/certificat",
            "receipt",
            ("ar.docx", b"PK\x03\x04 not a pdf", "application/octet-stream"),
        )

    assert answer.status_code == 422
    assert error_of(answer, "receipt") == "Le fichier n'est pas un PDF."
    assert not signer.of(CheckSignedReceipt)


async def test_a_pdf_with_javascript_is_refused_on_the_file_field_and_nothing_is_signed(
    pickup: Pickup, probe: Probe
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with (
        answering(pickup.amqp_url, {CheckSignedReceipt: accepting}) as signer,
        pickup.browser() as site,
    ):
        await accepted(site, event.item_number)
        answer = await send_file(
            site,
            "/signature/certificat",
            "receipt",
            ("ar.pdf", with_document_javascript(), "application/pdf"),
        )
        downloads = await site.get("/courrier")

    assert answer.status_code == 422
    assert '<form method="post" action="/signature/certificat"' in answer.text
    assert error_of(answer, "receipt").startswith(
        "Avis de réception refusé : le PDF contient du contenu actif (script, action automatique,"
    )
    assert not signer.of(CheckSignedReceipt)
    assert downloads.headers["location"] == "/signature"
    signed_at = await pickup.runtime.pool.fetchval(
        "SELECT signed_at FROM letters WHERE letter_id = $1", event.correlation_id
    )
    assert signed_at is None


async def test_a_signed_ar_over_the_size_limit_is_refused_with_the_limit(
    amqp_url: str, database_url: str, probe: Probe
) -> None:
    async with started_pickup(amqp_url, database_url, max_receipt_bytes=4096) as pickup:
        event = await deposit(amqp_url, pickup)
        async with pickup.browser() as site:
            await accepted(site, event.item_number)
            answer = await send_file(
                site,
                "/signature/certificat",
                "receipt",
                ("ar.pdf", b"%PDF-" + b"0" * 200_000, "application/pdf"),
            )

    assert answer.status_code == 413
    assert error_of(answer, "receipt") == "Le fichier dépasse 4 Ko."


async def test_when_the_signer_does_not_answer_the_page_says_so_and_offers_to_retry(
    amqp_url: str, database_url: str, probe: Probe
) -> None:
    async with started_pickup(amqp_url, database_url, request_timeout_seconds=0.5) as pickup:
        event = await deposit(amqp_url, pickup)
        async with answering(amqp_url, {IssueReceiptForm: lambda _: None}), pickup.browser() as site:
            await accepted(site, event.item_number)
            page = await site.get("/signature/certificat/avis.pdf")

    assert page.status_code == 503
    assert "Service momentanément indisponible" in page.text
    assert 'href="/signature/certificat/avis.pdf"' in page.text


async def test_a_letter_signed_once_is_not_signed_again(pickup: Pickup, probe: Probe) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with answering(pickup.amqp_url, {CheckSignedReceipt: accepting}), pickup.browser() as site:
        await accepted(site, event.item_number)
        page = await site.get("/signature/certificat")
        token = csrf(page)
        first = await site.post(
            "/signature/certificat",
            data={"csrf_token": token},
            files={"receipt": ("ar.pdf", SIGNED, "application/pdf")},
        )
        again = await site.post(
            "/signature/certificat",
            data={"csrf_token": token},
            files={"receipt": ("ar.pdf", SIGNED, "application/pdf")},
        )

    assert first.headers["location"] == "/courrier"
    assert again.headers["location"] == "/courrier"  # signed: the signing pages send on to the downloads
    await probe.wait_for(ReceiptSigned.routing_key, event.correlation_id)
    await asyncio.sleep(0.5)
    assert len(probe.of(ReceiptSigned.routing_key, event.correlation_id)) == 1


def slow_then_accepting(
    first_seconds: float,
) -> Callable[[CheckSignedReceipt], Awaitable[SignedReceiptChecked]]:
    """The signer's check: the first one takes `first_seconds` (a busy signer), later ones are quick."""
    asked: list[CheckSignedReceipt] = []

    async def check(query: CheckSignedReceipt) -> SignedReceiptChecked:
        asked.append(query)
        if len(asked) == 1:
            await asyncio.sleep(first_seconds)
        return accepting(query)

    return check


async def upload_signed(site: httpx.AsyncClient) -> httpx.Response:
    page = await site.get("/signature/certificat")
    return await site.post(
        "/signature/certificat",
        data={"csrf_token": csrf(page)},
        files={"receipt": ("ar.pdf", SIGNED, "application/pdf")},
    )


async def test_the_signed_ar_check_is_waited_for_longer_than_other_answers(
    amqp_url: str, database_url: str, probe: Probe
) -> None:
    async with started_pickup(
        amqp_url, database_url, request_timeout_seconds=0.5, receipt_check_timeout_seconds=10
    ) as pickup:
        event = await deposit(amqp_url, pickup)
        async with (
            answering(amqp_url, {CheckSignedReceipt: slow_then_accepting(1.5)}),
            pickup.browser() as site,
        ):
            await accepted(site, event.item_number)
            answer = await upload_signed(site)

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/courrier"
    await probe.wait_for(ReceiptSigned.routing_key, event.correlation_id)


async def test_a_slow_check_says_the_signature_is_being_checked_and_its_button_gets_the_outcome(
    amqp_url: str, database_url: str, probe: Probe
) -> None:
    async with started_pickup(amqp_url, database_url, receipt_check_timeout_seconds=0.5) as pickup:
        event = await deposit(amqp_url, pickup)
        async with (
            answering(amqp_url, {CheckSignedReceipt: slow_then_accepting(2.0)}) as signer,
            pickup.browser() as site,
        ):
            await accepted(site, event.item_number)
            waiting = await upload_signed(site)
            await asyncio.sleep(2.0)  # the late answer comes, and is dropped
            looked = await site.get("/signature/certificat/verification")
            forged = await site.post("/signature/certificat/verification", data={"csrf_token": "forged"})
            again = await site.get("/signature/certificat/verification")  # a forged post ends the token
            asked = await site.post("/signature/certificat/verification", data={"csrf_token": csrf(again)})

    # Not an error asking for a new upload: the upload is kept, and asked about again by the
    # page's button (a POST with the CSRF token); loading the page only shows it.
    assert waiting.status_code == 202
    assert "Signature en cours de vérification" in waiting.text
    assert "Inutile de le déposer à nouveau" in waiting.text
    assert 'action="/signature/certificat/verification"' in waiting.text
    assert looked.status_code == 202
    assert 'method="post" action="/signature/certificat/verification"' in looked.text
    assert forged.status_code == 403
    assert again.status_code == 202
    assert asked.status_code == 303
    assert asked.headers["location"] == "/courrier"
    assert [q.pdf for q in signer.of(CheckSignedReceipt)] == [SIGNED, SIGNED]
    await probe.wait_for(ReceiptSigned.routing_key, event.correlation_id)
    await asyncio.sleep(0.5)
    assert len(probe.of(ReceiptSigned.routing_key, event.correlation_id)) == 1


async def kept_uploads(pickup: Pickup, event: LetterDeposited) -> list[bytes]:
    rows = await pickup.runtime.pool.fetch(
        "SELECT pdf FROM receipts_in_check WHERE letter_id = $1", event.correlation_id
    )
    return [row["pdf"] for row in rows]


async def test_the_button_gets_the_outcome_from_another_replica_of_the_site(
    amqp_url: str, database_url: str, probe: Probe
) -> None:
    # Two replicas of the site (one database, the same session secret) behind a load balancer:
    # the upload's check outlasts its wait on the first, the button is served by the second.
    same = {"session_secret": secrets.token_urlsafe(36), "receipt_check_timeout_seconds": 0.5}
    async with (
        started_pickup(amqp_url, database_url, **same) as first,
        started_pickup(amqp_url, database_url, **same) as second,
    ):
        event = await deposit(amqp_url, first)
        async with (
            answering(amqp_url, {CheckSignedReceipt: slow_then_accepting(2.0)}) as signer,
            first.browser() as site,
            second.browser() as elsewhere,
        ):
            await accepted(site, event.item_number)
            waiting = await upload_signed(site)
            kept = await kept_uploads(second, event)
            elsewhere.cookies = site.cookies
            looked = await elsewhere.get("/signature/certificat/verification")
            asked = await elsewhere.post(
                "/signature/certificat/verification", data={"csrf_token": csrf(looked)}
            )
        left = await kept_uploads(second, event)

    assert waiting.status_code == 202
    assert kept == [SIGNED]
    assert looked.status_code == 202, looked.text
    assert asked.status_code == 303, asked.text
    assert asked.headers["location"] == "/courrier"
    assert [q.pdf for q in signer.of(CheckSignedReceipt)] == [SIGNED, SIGNED]
    assert left == []  # gone with the signature
    await probe.wait_for(ReceiptSigned.routing_key, event.correlation_id)


async def test_an_upload_kept_for_another_check_is_swept_hours_later(
    amqp_url: str, database_url: str, probe: Probe
) -> None:
    async with started_pickup(
        amqp_url, database_url, receipt_check_timeout_seconds=0.5, unclaimed_sweep_seconds=0.2
    ) as pickup:
        event = await deposit(amqp_url, pickup)
        async with answering(amqp_url, {CheckSignedReceipt: lambda _: None}), pickup.browser() as site:
            await accepted(site, event.item_number)
            waiting = await upload_signed(site)
            await asyncio.sleep(0.5)  # a few sweeps
            kept = await kept_uploads(pickup, event)
            pickup.clock.move(signature.KEPT_FOR_CHECK + timedelta(minutes=1))
            await wait_until_gone(pickup, event)
            lost = await site.get("/signature/certificat/verification")

    assert waiting.status_code == 202
    assert kept == [SIGNED]
    assert lost.status_code == 409
    assert "Déposez-le à nouveau" in error_of(lost, "receipt")


async def wait_until_gone(pickup: Pickup, event: LetterDeposited, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await kept_uploads(pickup, event):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the kept upload was not swept")
        await asyncio.sleep(0.05)


async def test_the_checking_page_without_a_kept_upload_asks_for_the_signed_ar_again(pickup: Pickup) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await accepted(site, event.item_number)
        page = await site.get("/signature/certificat/verification")

    assert page.status_code == 409
    assert error_of(page, "receipt") == (
        "La vérification de votre avis de réception signé n'a pas pu aboutir. Déposez-le à nouveau."
    )
