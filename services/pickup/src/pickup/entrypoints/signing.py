"""Signing the acknowledgement of receipt (avis de réception, AR; DESIGN §2 step 5).

Only the methods the sender allowed for the letter are offered (`LetterDeposited.
signature_methods`). With a personal certificate the recipient downloads the AR the signer
issued, signs it and uploads it; the signer checks it. With a one-time code the recipient
sends identity documents to the verification desk, which decides and sends the code to the
email address or mobile number the sender declared (never one typed here); the desk checks
the code typed on the signing page. Where an identity provider is configured, the recipient
may prove who they are with it instead (`identity_provider`): a match signs the AR where the
sender allowed it, else stands for the documents of the code path. Either way, once
accepted, pickup records the signature and publishes `ReceiptSigned` in the same
transaction (outbox).

Here: the choice of method, and what both ways share; the ways themselves are in
`certificate` and `one_time_code`.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lre_shared import uploads
from lre_shared.contracts import CaseState, SignatureMethod
from pickup.domain.letter import LetterView
from pickup.entrypoints.pages import Endpoint, LetterPage, Site, letter_at, site_of
from pickup.service_layer import identity_provider, signature

# Where the desk still works on the case: the recipient waits.
WAITING = (CaseState.awaiting_documents, CaseState.pending, CaseState.in_review, CaseState.more_documents)


def allowed(letter: LetterView, method: SignatureMethod) -> bool:
    return method in letter.signature_methods


def provider_offered(site: Site, letter: LetterView) -> str | None:
    """The identity provider's name when the site offers it for `letter` (CPCE R.53-1): one is
    configured, and a match would sign the AR (the sender allowed
    `SignatureMethod.identity_provider`) or have the desk send the code (`one_time_code`)."""
    if site.identity_provider is None or identity_provider.purpose_for(letter) is None:
        return None
    return site.settings.identity_provider_name


def signing_page(method: SignatureMethod | None = None) -> Callable[[LetterPage], Endpoint]:
    """A page for the identified letter while it waits for its AR to be signed (others go
    where they stand) and, given `method`, only when the sender allowed that method."""

    def wrap(page: LetterPage) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            letter = await letter_at(request, "/signature")
            if isinstance(letter, Response):
                return letter
            if method is not None and not allowed(letter, method):
                return RedirectResponse("/signature", 303)
            return await page(request, site_of(request), letter)

        endpoint.__name__ = page.__name__
        return endpoint

    return wrap


@signing_page()
async def choice_page(request: Request, site: Site, letter: LetterView) -> Response:
    case = await signature.find_case(site.storage, letter.letter_id)
    if case is not None and request.query_params.get("choisir") is None:
        if case.state is CaseState.approved:
            return RedirectResponse("/signature/code/saisie", 303)
        if case.state in WAITING:
            return RedirectResponse("/signature/code/attente", 303)
    return site.pages.render(
        request,
        "signature.html",
        certificate=allowed(letter, SignatureMethod.certificate),
        code=allowed(letter, SignatureMethod.one_time_code),
        provider=provider_offered(site, letter),
    )


def refusal(request: Request, refused: uploads.Refused) -> str:
    """Why an uploaded file is refused, in the page's language, with the limit it went past."""
    pages = site_of(request).pages
    limit = refused.limit or 0
    kinds = refused.detail.replace(" and ", " et ") if pages.language(request) == "fr" else refused.detail
    return pages.t(
        request,
        f"upload.{refused.flaw}",
        kinds=kinds,
        detail=refused.detail,
        limit=limit,
        megapixels=f"{limit / 1_000_000:g}",
    )


ROUTES: list[BaseRoute] = [Route("/signature", choice_page)]
