"""Signing the AR with a one-time code: the recipient sends identity documents to the
verification desk, which decides and sends the code to the email address or mobile number
the sender declared (never one typed here); the desk checks the code typed on the signing
page (DESIGN §2 step 5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lre_shared import metrics, uploads
from lre_shared.contracts import (
    CaseState,
    CodeChecked,
    CodeProblem,
    DocumentChannel,
    LockKind,
    SignatureMethod,
)
from pickup.domain.letter import Case, LetterView
from pickup.entrypoints.forms import field, form_of, too_large, upload
from pickup.entrypoints.pages import Endpoint, Site, letter_at, site_of
from pickup.entrypoints.signing import WAITING, allowed, provider_offered, refusal, signing_page
from pickup.service_layer import locks, signature
from pickup.service_layer.limits import Guess
from pickup.service_layer.signature import CodeChannel


def code_channels(letter: LetterView, sms: bool = True) -> dict[CodeChannel, str]:
    """Where a code may go: the declared email, and the declared mobile when there is one and
    codes may go by SMS (`sms`: the notifier can send them)."""
    channels: dict[CodeChannel, str] = {"email": str(letter.recipient["email"])}
    if sms and letter.recipient.get("mobile"):
        channels["sms"] = str(letter.recipient["mobile"])
    return channels


def masked(address: str) -> str:
    """Enough of an address for the recipient to recognise it."""
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:2]}{'•' * max(len(name) - 2, 1)}@{domain}"
    return f"{address[:3]}{'•' * max(len(address) - 5, 1)}{address[-2:]}"


def channels_for(site: Site, letter: LetterView) -> dict[CodeChannel, str]:
    return code_channels(letter, site.settings.sms_codes)


@signing_page(SignatureMethod.one_time_code)
async def code_request_page(request: Request, site: Site, letter: LetterView) -> Response:
    channels = channels_for(site, letter)
    choices = {name: masked(address) for name, address in channels.items()}
    # Only the ways the desk takes documents and the notifier sends codes are offered.
    offered = [str(channel) for channel in site.settings.document_channels]
    if request.method == "GET":
        return site.pages.render(
            request,
            "code_request.html",
            code_channels=choices,
            document_channels=offered,
            values={},
            provider=provider_offered(site, letter),
        )
    form = await form_of(request)
    if form is None:
        return site.pages.forbidden(request)
    document_channel = field(form, "document_channel")
    code_channel = field(form, "code_channel")
    errors = {}
    if document_channel not in offered:
        errors["document_channel"] = site.pages.t(request, "code.pick_document_channel")
    if code_channel not in channels:
        errors["code_channel"] = site.pages.t(request, "code.pick_code_channel")
    if errors:
        values = {"document_channel": document_channel, "code_channel": code_channel}
        return site.pages.render(
            request,
            "code_request.html",
            422,
            code_channels=choices,
            document_channels=offered,
            values=values,
            errors=errors,
            provider=provider_offered(site, letter),
        )
    chosen: CodeChannel = "sms" if code_channel == "sms" else "email"
    opened = await signature.open_case(
        site.storage,
        site.services,
        letter,
        DocumentChannel(document_channel),
        chosen,
        channels[chosen],
        site.pages.language(request),
    )
    if opened.case_id is None:
        return site.pages.problem(
            request, site.pages.t(request, "code.not_opened", reason=opened.reason or "")
        )
    if document_channel == DocumentChannel.upload:
        return RedirectResponse("/signature/code/justificatifs", 303)
    return RedirectResponse("/signature/code/attente", 303)


async def case_of(request: Request) -> tuple[LetterView, Case] | Response:
    """The letter waiting for its AR and the case the desk opened for it, else where to go."""
    letter = await letter_at(request, "/signature")
    if isinstance(letter, Response):
        return letter
    case = await signature.find_case(site_of(request).storage, letter.letter_id)
    if case is None:
        return RedirectResponse("/signature/code", 303)
    return letter, case


CasePage = Callable[[Request, Site, LetterView, Case], Awaitable[Response]]


def case_page(page: CasePage) -> Endpoint:
    """A page of the code path once the desk opened the letter's case (else the request page)."""

    async def endpoint(request: Request) -> Response:
        found = await case_of(request)
        if isinstance(found, Response):
            return found
        letter, case = found
        return await page(request, site_of(request), letter, case)

    endpoint.__name__ = page.__name__
    return endpoint


def document_limit(site: Site, case: Case) -> int:
    stated = case.max_document_bytes or site.settings.max_identity_document_bytes
    return min(stated, site.settings.max_identity_document_bytes)


def documents_form(request: Request, case: Case, status: int = 200, **context: object) -> Response:
    site = site_of(request)
    return site.pages.render(
        request, "documents.html", status, case=case, max_bytes=document_limit(site, case), **context
    )


@case_page
async def documents_page(request: Request, site: Site, letter: LetterView, case: Case) -> Response:
    if case.state not in WAITING:
        return RedirectResponse("/signature/code/attente", 303)
    if request.method == "GET":
        return documents_form(request, case)
    limit = document_limit(site, case)
    big = {"document": site.pages.t(request, "docs.too_big", size=site.pages.size(request, limit))}
    if too_large(request, limit):
        return documents_form(request, case, 413, errors=big)
    form = await form_of(request)
    if form is None:
        return site.pages.forbidden(request)
    uploaded = upload(form, "document")
    if uploaded is None:
        return documents_form(request, case, 422, errors={"document": site.pages.t(request, "docs.missing")})
    content = await uploaded.read(limit + 1)
    if len(content) > limit:
        return documents_form(request, case, 413, errors=big)
    # The desk inspects it too (documents reach it by mail and MMS as well); judged here
    # first, the refusal is in the page's language and nothing goes to the desk.
    judged = uploads.inspect_document(content)
    if isinstance(judged, uploads.Refused):
        refused = site.pages.t(request, "docs.refused", reason=refusal(request, judged))
        return documents_form(request, case, 422, errors={"document": refused})
    filename = (uploaded.filename or "justificatif")[-200:]
    added = await signature.add_document(site.storage, site.services, case, letter, filename, content)
    if not added.accepted:
        refused = site.pages.t(request, "docs.refused", reason=added.reason or "")
        return documents_form(request, case, 422, errors={"document": refused})
    return RedirectResponse("/signature/code/attente", 303)


@case_page
async def waiting_page(request: Request, site: Site, letter: LetterView, case: Case) -> Response:
    if case.state is CaseState.approved:
        return RedirectResponse("/signature/code/saisie", 303)
    if case.state is CaseState.rejected:
        return site.pages.render(
            request,
            "verification_rejected.html",
            case=case,
            certificate=allowed(letter, SignatureMethod.certificate),
        )
    return site.pages.render(
        request,
        "waiting.html",
        case=case,
        certificate=allowed(letter, SignatureMethod.certificate),
        refresh_seconds=site.settings.waiting_refresh_seconds,
    )


async def case_state(request: Request) -> Response:
    """For the waiting page's script: the case's state, so it reloads only on a change."""
    found = await case_of(request)
    if isinstance(found, Response):
        return JSONResponse({"state": None, "next": "/signature"})
    _, case = found
    return JSONResponse({"state": str(case.state)})


# ------------------------------------------------------------------ code entry


async def code_form(request: Request, status: int = 200, **context: object) -> Response:
    """The code entry page; when the last code could not be sent, it says so and offers the
    recipient's channels to send a new one, the failed one last."""
    site = site_of(request)
    letter = await site.visits.identified_letter(request)
    case = await signature.find_case(site.storage, letter.letter_id) if letter else None
    resend: list[tuple[str, str]] = []
    failed_by = None
    if letter is not None and case is not None and case.code_failure:
        channels = channels_for(site, letter)
        failed = case.code_failed_channel
        order = sorted(channels, key=lambda name: name == failed)
        resend = [(name, masked(channels[name])) for name in order]
        failed_by = site.pages.t(request, "wait.by_sms" if failed == "sms" else "wait.by_email")
    return site.pages.render(
        request, "code_entry.html", status, resend=resend, failed_by=failed_by, **context
    )


@case_page
async def code_entry_page(request: Request, site: Site, letter: LetterView, case: Case) -> Response:
    if case.state is not CaseState.approved:
        return RedirectResponse("/signature/code/attente", 303)
    if held := site.guards.held(request, letter, LockKind.code):
        return held
    if request.method == "GET":
        if case.code_failure:
            return await code_form(request)
        return await code_form(request, notice=site.pages.t(request, "enter.approved"))
    form = await form_of(request)
    if form is None:
        return site.pages.forbidden(request)
    if locked := await site.guards.address_locked(request, Guess.code):
        return locked
    typed = field(form, "code")[:32]
    if not typed:
        return await code_form(request, 422, errors={"code": site.pages.t(request, "enter.missing")})
    checked = await signature.sign_with_code(site.storage, site.services, letter, case, typed, site.clock())
    if checked.valid:
        metrics.pickup_step("signed")
        return RedirectResponse("/courrier", 303)
    return await code_refused(request, letter, checked)


async def code_refused(request: Request, letter: LetterView, checked: CodeChecked) -> Response:
    site = site_of(request)
    if checked.problem is CodeProblem.none_issued:
        return RedirectResponse("/signature/code/attente", 303)
    if checked.problem is CodeProblem.expired:
        return site.pages.render(request, "code_problem.html", 410, problem="expired")
    if checked.problem is CodeProblem.used:
        return site.pages.render(request, "code_problem.html", 410, problem="used")
    if checked.problem is CodeProblem.locked:
        return site.pages.render(request, "code_problem.html", 429, problem="codelocked")
    # A wrong code counts against the item and against the client address.
    judgement = await locks.answer(
        site.storage,
        letter.letter_id,
        LockKind.code,
        site.guards.address(request),
        True,
        site.guards.hold_rules[LockKind.code],
        site.clock(),
    )
    if locked := await site.guards.wrong_answer(request, Guess.code):
        return locked
    if judgement.held_until is not None:
        return site.guards.item_locked(request, LockKind.code, judgement.held_until)
    left = checked.tries_left
    if left is not None and left <= 0:
        return site.pages.render(request, "code_problem.html", 429, problem="codelocked")
    message = (
        site.pages.t(request, "enter.wrong", left=left)
        if left is not None
        else site.pages.t(request, "enter.wrong_plain")
    )
    return await code_form(request, 422, errors={"code": message})


@case_page
async def new_code(request: Request, site: Site, letter: LetterView, case: Case) -> Response:
    if request.method == "GET" or case.state is not CaseState.approved:
        return RedirectResponse("/signature/code/saisie", 303)
    form = await form_of(request)
    if form is None:
        return site.pages.forbidden(request)
    # No code is sent while the letter's codes are held: the locked page says until when.
    if held := site.guards.held(request, letter, LockKind.code):
        return held
    chosen = field(form, "channel")
    channel: CodeChannel | None = None
    if chosen in channels_for(site, letter):
        channel = "sms" if chosen == "sms" else "email"
    requested = await signature.request_code(site.storage, site.services, letter, channel)
    if requested.locked_until is not None:
        return site.guards.item_locked(request, LockKind.code, requested.locked_until)
    if requested.issued:
        return await code_form(request, notice=site.pages.t(request, "enter.new_sent"))
    if requested.retry_after_seconds is not None:
        throttled = site.pages.t(request, "enter.throttled", seconds=requested.retry_after_seconds)
        return await code_form(request, 429, form_error=throttled)
    return await code_form(
        request, 409, form_error=site.pages.t(request, "enter.not_issued", reason=requested.reason or "")
    )


ROUTES: list[BaseRoute] = [
    Route("/signature/code", code_request_page, methods=["GET", "POST"]),
    Route("/signature/code/justificatifs", documents_page, methods=["GET", "POST"]),
    Route("/signature/code/attente", waiting_page),
    Route("/signature/code/etat", case_state),
    Route("/signature/code/saisie", code_entry_page, methods=["GET", "POST"]),
    Route("/signature/code/nouveau", new_code, methods=["GET", "POST"]),
]
