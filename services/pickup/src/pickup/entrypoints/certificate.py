"""Signing the AR with a personal certificate: the recipient downloads the AR the signer
issued, signs it and uploads it; the signer checks it (DESIGN §2 step 5).

The check (a PAdES validation) may take longer than the site waits for it
(`PICKUP_RECEIPT_CHECK_TIMEOUT_SECONDS`), the signer being busy: the recipient is then told
the signature is being checked, on a page whose button (a POST, with the CSRF token) asks
the signer again with the same upload, until there is an outcome; never to upload again
while the site can ask. Loading that page (GET) only shows where the check stands. The
upload is kept in the service's database (`signature.sign_with_certificate`), so that the
button works whichever replica of the site serves it, and after a restart; it is asked for
again only once gone: with an outcome, or some hours after (`signature.KEPT_FOR_CHECK`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lre_shared import metrics, uploads
from lre_shared.contracts import SignatureMethod
from pickup.domain.letter import LetterView
from pickup.entrypoints import receipt_verdict
from pickup.entrypoints.forms import form_of, too_large, upload
from pickup.entrypoints.pages import Site, site_of
from pickup.entrypoints.signing import refusal, signing_page
from pickup.service_layer import signature
from pickup.service_layer.ports import ServiceUnavailable

CHECKING = "/signature/certificat/verification"


def certificate_form(request: Request, status: int = 200, **context: object) -> Response:
    site = site_of(request)
    return site.pages.render(
        request, "certificate.html", status, max_bytes=site.settings.max_receipt_bytes, **context
    )


@signing_page(SignatureMethod.certificate)
async def certificate_page(request: Request, site: Site, letter: LetterView) -> Response:
    if request.method == "GET":
        return certificate_form(request)
    limit = site.settings.max_receipt_bytes
    big = {"receipt": site.pages.t(request, "cert.too_big", size=site.pages.size(request, limit))}
    if too_large(request, limit):
        return certificate_form(request, 413, errors=big)
    form = await form_of(request)
    if form is None:
        return site.pages.forbidden(request)
    uploaded = upload(form, "receipt")
    if uploaded is None:
        return certificate_form(request, 422, errors={"receipt": site.pages.t(request, "cert.missing")})
    pdf = await uploaded.read(limit + 1)
    if len(pdf) > limit:
        return certificate_form(request, 413, errors=big)
    judged = uploads.inspect_document(pdf, (uploads.PDF,))
    if isinstance(judged, uploads.Refused):
        if judged.flaw is uploads.Flaw.not_accepted:
            return certificate_form(request, 422, errors={"receipt": site.pages.t(request, "cert.not_pdf")})
        refused = site.pages.t(request, "cert.refused", reason=refusal(request, judged))
        return certificate_form(request, 422, errors={"receipt": refused})
    return await checked_page(request, site, letter, pdf)


@signing_page(SignatureMethod.certificate)
async def checking_page(request: Request, site: Site, letter: LetterView) -> Response:
    if request.method == "GET":
        if not await signature.receipt_in_check(site.storage, letter.letter_id):
            return check_lost(request)
        return waiting_page(request, site)
    if await form_of(request) is None:
        return site.pages.forbidden(request)
    return await checked_page(
        request, site, letter, await signature.kept_receipt(site.storage, letter.letter_id)
    )


def check_lost(request: Request) -> Response:
    """No signed AR kept for the letter (gone with an outcome, or kept too long): upload it again."""
    lost = site_of(request).pages.t(request, "cert.check_lost")
    return certificate_form(request, 409, errors={"receipt": lost})


def waiting_page(request: Request, site: Site) -> Response:
    return site.pages.render(request, "receipt_checking.html", 202, again=CHECKING)


async def checked_page(request: Request, site: Site, letter: LetterView, pdf: bytes | None) -> Response:
    """The signer's outcome for the signed AR `pdf`, or the page saying it is being checked
    (the upload kept for its button); None, no upload kept: the page asking for it again."""
    if pdf is None:
        return check_lost(request)
    try:
        checked = await signature.sign_with_certificate(
            site.storage, site.services, letter, pdf, site.clock()
        )
    except ServiceUnavailable:
        return waiting_page(request, site)
    if not checked.accepted:
        message, detail = receipt_verdict.explain(site.pages, request, checked, letter.recipient_name)
        return certificate_form(request, 422, errors={"receipt": message}, detail=detail)
    metrics.pickup_step("signed")
    return RedirectResponse("/courrier", 303)


@signing_page(SignatureMethod.certificate)
async def receipt_form(request: Request, site: Site, letter: LetterView) -> Response:
    issued = await signature.receipt_form(site.services, letter)
    if not issued.pdf:
        # The signer draws the AR from its record of the acceptance, which reaches it by
        # the bus a moment after this site recorded the decision.
        site.catching_up(letter.decided_at, f"receipt form: {issued.reason}")
        return site.pages.problem(
            request, site.pages.t(request, "cert.form_unavailable", reason=issued.reason or "")
        )
    filename = issued.filename or f"ar_{letter.item_number}.pdf"
    return Response(
        issued.pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="{ascii_filename(filename)}"'},
    )


def ascii_filename(name: str) -> str:
    return "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in name)


ROUTES: list[BaseRoute] = [
    Route("/signature/certificat", certificate_page, methods=["GET", "POST"]),
    Route("/signature/certificat/avis.pdf", receipt_form),
    Route(CHECKING, checking_page, methods=["GET", "POST"]),
]
