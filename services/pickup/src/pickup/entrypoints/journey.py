"""The first steps: item number, identity, then accept or refuse (DESIGN §2 steps 2-4)."""

from __future__ import annotations

import time
from uuid import UUID

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lre_shared import metrics
from pickup.domain.identity import FIELDS
from pickup.entrypoints.catalogue import LANGUAGES
from pickup.entrypoints.pages import Site, field, step_of
from pickup.service_layer import handlers
from pickup.service_layer.handlers import DecisionRefused, LetterView
from pickup.service_layer.limits import Guess

ITEM_NUMBER_DIGITS = 12


def routes(site: Site) -> list[BaseRoute]:
    async def item_number_page(request: Request) -> Response:
        site.touch(request)
        if request.method == "GET":
            return site.render(request, "item_number.html", item_number="")
        form = await site.form_of(request)
        if form is None:
            return site.forbidden(request)
        if locked := await site.address_locked(request, Guess.item_number):
            return locked
        typed = "".join(ch for ch in field(form, "item_number") if not ch.isspace())
        letter = None
        if not (len(typed) == ITEM_NUMBER_DIGITS and typed.isascii() and typed.isdigit()):
            error = "item.malformed"
        else:
            letter = await handlers.find_by_item_number(site.runtime.pool, typed)
            error = "item.unknown"
        if letter is None:
            if locked := await site.wrong_answer(request, Guess.item_number):
                return locked
            return site.render(
                request,
                "item_number.html",
                422,
                item_number=typed,
                errors={"item_number": site.t(request, error, digits=ITEM_NUMBER_DIGITS)},
            )
        request.session.pop("identified", None)
        request.session["item"] = str(letter.letter_id)
        metrics.pickup_step("item_number")
        return RedirectResponse("/identite", 303)

    async def identity_page(request: Request) -> Response:
        if not site.touch(request):
            return site.render(request, "expired.html", 401)
        letter_id = request.session.get("item")
        if not isinstance(letter_id, str):
            return RedirectResponse("/", 303)
        letter = await handlers.find(site.runtime.pool, UUID(letter_id))
        if letter is None:
            return RedirectResponse("/", 303)
        max_attempts = site.settings.max_identity_attempts
        if letter.identity_failures >= max_attempts:
            return site.render(request, "locked.html", 429, reason="item")
        if request.method == "GET":
            return site.render(request, "identity.html", fields=FIELDS, values={})
        form = await site.form_of(request)
        if form is None:
            return site.forbidden(request)
        if locked := await site.address_locked(request, Guess.identity):
            return locked
        typed: dict[str, str | None] = {f: field(form, f) for f in FIELDS}
        errors = {f: site.t(request, "form.required") for f in FIELDS if f != "company" and not typed[f]}
        if errors:
            return site.render(request, "identity.html", 422, fields=FIELDS, values=typed, errors=errors)
        ok, _ = await handlers.check_identity(site.runtime.pool, letter, typed, max_attempts)
        if not ok:
            if locked := await site.wrong_answer(request, Guess.identity):
                return locked
            fresh = await handlers.find(site.runtime.pool, letter.letter_id)
            left = max_attempts - (fresh.identity_failures if fresh else max_attempts)
            if left <= 0:
                return site.render(request, "locked.html", 429, reason="item")
            return site.render(
                request,
                "identity.html",
                422,
                fields=FIELDS,
                values=typed,
                form_error=site.t(request, "identity.mismatch", left=left),
            )
        # A new session after identification: nothing from before carries over but the language.
        kept = request.session.get("lang")
        request.session.clear()
        if kept in LANGUAGES:
            request.session["lang"] = kept
        request.session["identified"] = str(letter.letter_id)
        request.session["seen"] = int(time.time())
        metrics.pickup_step("identity")
        return RedirectResponse("/decision", 303)

    def decision_form(request: Request, letter: LetterView, status: int = 200, **context: object) -> Response:
        return site.render(
            request,
            "decision.html",
            status,
            letter=letter,
            closes_at=site.rules.window_closes_at(letter.deadline),
            **context,
        )

    async def decision_page(request: Request) -> Response:
        letter = await site.identified_letter(request)
        if letter is None:
            return RedirectResponse("/", 303)
        if request.method == "POST":
            form = await site.form_of(request)
            if form is None:
                return site.forbidden(request)
            action = field(form, "decision")
            if action not in ("accepter", "refuser"):
                return decision_form(request, letter, 422, form_error=site.t(request, "decision.choose"))
            try:
                letter = await handlers.decide(
                    site.runtime.pool, letter.letter_id, action == "accepter", site.rules, site.clock()
                )
                metrics.pickup_step("accepted" if action == "accepter" else "refused")
            except DecisionRefused as refused:
                letter = await handlers.find(site.runtime.pool, letter.letter_id) or letter
                if str(refused) == "already decided" and letter.state in ("accepted", "refused"):
                    return site.render(request, "already_decided.html", 409, letter=letter)
        if letter.state == "accepted":
            return RedirectResponse(step_of(letter), 303)
        if letter.state == "refused":
            return site.render(request, "refused.html", letter=letter)
        if letter.state == "unclaimed" or site.clock() >= site.rules.window_closes_at(letter.deadline):
            # CPCE R.53-3: past the window the letter is unclaimed, swept or not yet.
            return site.render(request, "unclaimed.html", letter=letter)
        return decision_form(request, letter)

    return [
        Route("/", item_number_page, methods=["GET", "POST"]),
        Route("/identite", identity_page, methods=["GET", "POST"]),
        Route("/decision", decision_page, methods=["GET", "POST"]),
    ]
