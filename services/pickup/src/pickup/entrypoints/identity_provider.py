"""Proving one's identity through an identity provider on the signing step (CPCE R.53-1:
eIDAS level substantial or high, FranceConnect+): the button beside "send documents", the
sign-in at the provider, and its return to `CALLBACK`. What follows is in
`service_layer.identity_provider`; the OpenID Connect exchange in `adapters.oidc`.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lre_shared import metrics
from lre_shared.contracts import CaseState, SignatureMethod
from pickup.domain.letter import LetterView
from pickup.entrypoints.forms import field, form_of
from pickup.entrypoints.one_time_code import channels_for
from pickup.entrypoints.pages import Site, site_of, step_of
from pickup.entrypoints.signing import signing_page
from pickup.service_layer import identity_provider
from pickup.service_layer.ports import ProviderFailed
from pickup.service_layer.signature import CodeChannel

log = logging.getLogger(__name__)

START = "/identite/fournisseur"
# The provider sends the visitor back here (deploy/local/oidc.py: PICKUP_CALLBACK).
CALLBACK = "/identite/retour"


def callback_url(site: Site) -> str:
    return site.settings.public_url.rstrip("/") + CALLBACK


@signing_page()
async def start(request: Request, site: Site, letter: LetterView) -> Response:
    purpose = identity_provider.purpose_for(letter)
    if request.method == "GET" or site.identity_provider is None or purpose is None:
        return RedirectResponse("/signature", 303)
    form = await form_of(request)
    if form is None:
        return site.pages.forbidden(request)
    session_id = request.session.get("sid")
    if not isinstance(session_id, str):
        return RedirectResponse("/", 303)
    # The code, if it comes to one, goes to a declared address only: by SMS when chosen and possible.
    wants_sms = field(form, "code_channel") == "sms" and "sms" in channels_for(site, letter)
    channel: CodeChannel = "sms" if wants_sms else "email"
    try:
        url = await identity_provider.begin(
            site.storage,
            site.identity_provider,
            letter,
            session_id,
            purpose,
            channel,
            callback_url(site),
            site.clock(),
        )
    except ProviderFailed as exc:
        log.warning("identity provider unavailable: %s", exc, extra={"letter_id": str(letter.letter_id)})
        return result(request, "unavailable", 503, methods=letter.signature_methods)
    return RedirectResponse(url, 303)


def result(
    request: Request,
    outcome: str,
    status: int = 200,
    methods: tuple[SignatureMethod, ...] = (),
    **context: object,
) -> Response:
    """The page after the provider: what happened and the ways on (documents, certificate)."""
    site = site_of(request)
    return site.pages.render(
        request,
        "identity_provider.html",
        status,
        outcome=outcome,
        provider=site.settings.identity_provider_name,
        code=SignatureMethod.one_time_code in methods,
        certificate=SignatureMethod.certificate in methods,
        **context,
    )


async def callback(request: Request) -> Response:
    site = site_of(request)
    provider = site.identity_provider
    state = request.query_params.get("state", "")[:200]
    taken = await site.storage.identity_requests.take(state) if state and provider else None
    letter = await site.visits.identified_letter(request)
    if letter is None:
        return RedirectResponse("/", 303)
    methods = letter.signature_methods
    # State: this site's own sign-in, for this session and letter, not older than a few minutes
    # (single use: `take` removed it). Anything else is not an answer to our request.
    if (
        provider is None
        or taken is None
        or taken.expired(site.clock())
        or taken.letter_id != letter.letter_id
        or taken.session_id != request.session.get("sid")
    ):
        return result(request, "expired", 400, methods=methods)
    if step_of(letter) != "/signature":
        return RedirectResponse(step_of(letter), 303)
    code = request.query_params.get("code", "")
    if request.query_params.get("error") or not code:
        # The visitor cancelled at the provider, or the provider refused the request.
        return result(request, "cancelled", methods=methods)
    try:
        identity = await provider.identify(taken, code[:2000], callback_url(site))
    except ProviderFailed as exc:
        log.warning(
            "identity provider sign-in not accepted: %s", exc, extra={"letter_id": str(letter.letter_id)}
        )
        return result(request, "failed", 502, methods=methods)
    outcome = await identity_provider.finish(
        site.storage,
        site.services,
        letter,
        taken,
        identity,
        accepted_levels=site.settings.identity_provider_acr_values,
        code_address=channels_for(site, letter).get(taken.code_channel) or str(letter.recipient["email"]),
        language=site.pages.language(request),
        now=site.clock(),
    )
    match outcome:
        case identity_provider.Signed():
            metrics.pickup_step("signed")
            return RedirectResponse("/courrier", 303)
        case identity_provider.LevelTooLow():
            return result(request, "level", 403, methods=methods)
        case identity_provider.NotMatched():
            return result(request, "mismatch", 403, methods=methods, names=identity.full_name or "?")
        case identity_provider.DeskDecides(opened=opened):
            if opened.case_id is None:
                return site.pages.problem(
                    request, site.pages.t(request, "code.not_opened", reason=opened.reason or "")
                )
            if opened.state is CaseState.approved:
                return RedirectResponse("/signature/code/saisie", 303)
            return result(
                request,
                "desk" if outcome.reason else "desk_policy",
                methods=methods,
                names=identity.full_name or "?",
                reference=opened.reference,
            )


ROUTES: list[BaseRoute] = [
    Route(START, start, methods=["GET", "POST"]),
    Route(CALLBACK, callback),
]
