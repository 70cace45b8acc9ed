"""The first steps: item number, identity, then accept or refuse (DESIGN §2 steps 2-4)."""

from __future__ import annotations

import time
from uuid import UUID

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lre_shared import metrics
from lre_shared.contracts import LockKind
from pickup.domain.identity import FIELDS, incomplete_fields
from pickup.domain.letter import LetterView
from pickup.entrypoints.forms import field, form_of
from pickup.entrypoints.pages import site_of, step_of
from pickup.entrypoints.visits import forget
from pickup.service_layer import handlers
from pickup.service_layer.handlers import DecisionRefused
from pickup.service_layer.limits import Guess

ITEM_NUMBER_DIGITS = 12


async def item_number_page(request: Request) -> Response:
    site = site_of(request)
    site.visits.touch(request)
    if request.method == "GET":
        signed_out = request.session.pop("signed_out", False)
        return site.pages.render(request, "item_number.html", item_number="", signed_out=signed_out)
    form = await form_of(request)
    if form is None:
        return site.pages.forbidden(request)
    if locked := await site.guards.address_locked(request, Guess.item_number):
        return locked
    typed = "".join(ch for ch in field(form, "item_number") if not ch.isspace())
    letter = None
    if not (len(typed) == ITEM_NUMBER_DIGITS and typed.isascii() and typed.isdigit()):
        error = "item.malformed"
    else:
        letter = await handlers.find_by_item_number(site.storage, typed)
        error = "item.unknown"
    if letter is None:
        if locked := await site.guards.wrong_answer(request, Guess.item_number):
            return locked
        return site.pages.render(
            request,
            "item_number.html",
            422,
            item_number=typed,
            errors={"item_number": site.pages.t(request, error, digits=ITEM_NUMBER_DIGITS)},
        )
    request.session.pop("identified", None)
    request.session["item"] = str(letter.letter_id)
    await site.visits.renew(request)
    metrics.pickup_step("item_number")
    return RedirectResponse("/identite", 303)


async def identity_page(request: Request) -> Response:
    site = site_of(request)
    if not site.visits.touch(request):
        return site.pages.render(request, "expired.html", 401)
    letter_id = request.session.get("item")
    if not isinstance(letter_id, str):
        return RedirectResponse("/", 303)
    letter = await handlers.find(site.storage, UUID(letter_id))
    if letter is None:
        return RedirectResponse("/", 303)
    if held := site.guards.held(request, letter, LockKind.identity):
        return held
    if request.method == "GET":
        return site.pages.render(request, "identity.html", fields=FIELDS, values={})
    form = await form_of(request)
    if form is None:
        return site.pages.forbidden(request)
    if locked := await site.guards.address_locked(request, Guess.identity):
        return locked
    typed: dict[str, str | None] = {f: field(form, f) for f in FIELDS}
    # An obviously incomplete form is asked for again, naming the field, and costs no
    # attempt: only a complete identity is judged.
    errors = {
        f: site.pages.t(request, "form.required")
        if not typed[f]
        else site.pages.t(request, "identity.unreadable", field=site.pages.t(request, f"identity.{f}"))
        for f in incomplete_fields(typed)
    }
    if errors:
        return site.pages.render(request, "identity.html", 422, fields=FIELDS, values=typed, errors=errors)
    judgement, wrong = await handlers.check_identity(
        site.storage,
        letter,
        typed,
        site.guards.address(request),
        site.guards.hold_rules[LockKind.identity],
        site.clock(),
    )
    if not judgement.judged or wrong:
        if judgement.judged and (locked := await site.guards.wrong_answer(request, Guess.identity)):
            return locked
        if judgement.held_until is not None:
            return site.guards.item_locked(request, LockKind.identity, judgement.held_until)
        left = judgement.left
        return site.pages.render(
            request,
            "identity.html",
            422,
            fields=FIELDS,
            values=typed,
            form_error=site.pages.t(request, "identity.mismatch", left=left),
        )
    # A new session after identification: nothing from before carries over but the language.
    previous = request.session.get("sid")
    forget(request.session)
    await site.visits.renew(request, previous)
    request.session["identified"] = str(letter.letter_id)
    request.session["seen"] = int(time.time())
    # The recipient's language from here on, unless the visitor chose one on the site.
    request.session.setdefault("lang", letter.language)
    metrics.pickup_step("identity")
    return RedirectResponse("/decision", 303)


def decision_form(request: Request, letter: LetterView, status: int = 200, **context: object) -> Response:
    site = site_of(request)
    return site.pages.render(
        request,
        "decision.html",
        status,
        letter=letter,
        closes_at=site.rules.window_closes_at(letter.deadline),
        **context,
    )


async def decision_page(request: Request) -> Response:
    site = site_of(request)
    letter = await site.visits.identified_letter(request)
    if letter is None:
        return RedirectResponse("/", 303)
    if request.method == "POST":
        form = await form_of(request)
        if form is None:
            return site.pages.forbidden(request)
        action = field(form, "decision")
        if action not in ("accepter", "refuser"):
            return decision_form(request, letter, 422, form_error=site.pages.t(request, "decision.choose"))
        try:
            letter = await handlers.decide(
                site.storage, letter.letter_id, action == "accepter", site.rules, site.clock()
            )
            metrics.pickup_step("accepted" if action == "accepter" else "refused")
        except DecisionRefused as refused:
            letter = await handlers.find(site.storage, letter.letter_id) or letter
            if str(refused) == "already decided" and letter.state in ("accepted", "refused"):
                return site.pages.render(request, "already_decided.html", 409, letter=letter)
    if letter.state == "accepted":
        return RedirectResponse(step_of(letter), 303)
    if letter.state == "refused":
        return site.pages.render(request, "refused.html", letter=letter)
    if letter.state == "unclaimed" or site.clock() >= site.rules.window_closes_at(letter.deadline):
        # CPCE R.53-3: past the window the letter is unclaimed, swept or not yet.
        return site.pages.render(request, "unclaimed.html", letter=letter)
    return decision_form(request, letter)


async def sign_out(request: Request) -> Response:
    """End the session here and on the server: the cookie, or any copy of it, no longer
    reaches the letter (a shared or public computer)."""
    site = site_of(request)
    if request.method == "GET":
        return RedirectResponse("/", 303)
    form = await form_of(request)
    if form is None:
        return site.pages.forbidden(request)
    await site.visits.sign_out(request)
    request.session["signed_out"] = True
    return RedirectResponse("/", 303)


ROUTES: list[BaseRoute] = [
    Route("/", item_number_page, methods=["GET", "POST"]),
    Route("/deconnexion", sign_out, methods=["GET", "POST"]),
    Route("/identite", identity_page, methods=["GET", "POST"]),
    Route("/decision", decision_page, methods=["GET", "POST"]),
]
