"""The pickup site (relevé du pli): the recipient's pages, server-rendered, French first.

Nothing about a letter is shown to a visitor who has not passed the identity step, and
the sender stays hidden until acceptance (CPCE R.53-3).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lre_shared.messages import DownloadLinkIssued, IssueDownloadLink
from lre_shared.rules import PROFILES
from lre_shared.runtime import ServiceRuntime
from pickup.domain.identity import FIELDS
from pickup.service_layer import handlers
from pickup.service_layer.handlers import DecisionRefused, LetterView
from pickup.settings import PickupSettings

HERE = Path(__file__).resolve().parent.parent
ITEM_NUMBER_DIGITS = 12

FIELD_LABELS = {
    "company": "Entreprise",
    "last_name": "Nom",
    "first_name": "Prénom",
    "address": "Adresse",
    "postcode": "Code postal",
    "city": "Commune",
}

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.headers = list(SECURITY_HEADERS)
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_site(runtime: ServiceRuntime, settings: PickupSettings) -> Starlette:
    rules = PROFILES[settings.rules_profile]
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(),
        enable_async=False,
    )
    templates.filters["local_time"] = lambda dt: dt.astimezone(rules.timezone).strftime("%d/%m/%Y à %H:%M")
    templates.filters["local_date"] = lambda d: d.strftime("%d/%m/%Y")
    idle_seconds = settings.session_idle_minutes * 60

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("csrf_token", csrf_token(request))
        context.setdefault("errors", {})
        return HTMLResponse(templates.get_template(name).render(request=request, **context), status)

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    async def form_of(request: Request) -> dict[str, str] | None:
        """The posted form, or None when its CSRF token is missing or wrong."""
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        sent = values.get("csrf_token", "")
        expected = request.session.get("csrf")
        if not isinstance(expected, str) or not secrets.compare_digest(sent, expected):
            return None
        return values

    def touch(request: Request) -> bool:
        """Keep the session alive; False once it has been idle too long."""
        now = int(time.time())
        seen = request.session.get("seen")
        if isinstance(seen, int) and now - seen > idle_seconds:
            request.session.clear()
            return False
        request.session["seen"] = now
        return True

    def forbidden(request: Request) -> HTMLResponse:
        request.session.pop("csrf", None)
        return render(request, "expired.html", 403)

    async def identified_letter(request: Request) -> LetterView | None:
        if not touch(request):
            return None
        letter_id = request.session.get("identified")
        if not isinstance(letter_id, str):
            return None
        return await handlers.find(runtime.pool, UUID(letter_id))

    # ------------------------------------------------------------------ item number

    async def item_number_page(request: Request) -> Response:
        touch(request)
        if request.method == "GET":
            return render(request, "item_number.html", item_number="")
        form = await form_of(request)
        if form is None:
            return forbidden(request)
        typed = "".join(ch for ch in form.get("item_number", "") if not ch.isspace())
        error = None
        letter = None
        if not (len(typed) == ITEM_NUMBER_DIGITS and typed.isdigit()):
            error = f"Le numéro de pli compte {ITEM_NUMBER_DIGITS} chiffres."
        else:
            letter = await handlers.find_by_item_number(runtime.pool, typed)
            if letter is None:
                error = "Aucun pli ne porte ce numéro. Vérifiez le numéro reçu dans la notification."
        if letter is None:
            return render(request, "item_number.html", 422, item_number=typed, errors={"item_number": error})
        request.session.pop("identified", None)
        request.session["item"] = str(letter.letter_id)
        return RedirectResponse("/identite", 303)

    # ---------------------------------------------------------------------- identity

    async def identity_page(request: Request) -> Response:
        if not touch(request):
            return render(request, "expired.html", 401)
        letter_id = request.session.get("item")
        if not isinstance(letter_id, str):
            return RedirectResponse("/", 303)
        letter = await handlers.find(runtime.pool, UUID(letter_id))
        if letter is None:
            return RedirectResponse("/", 303)
        if letter.identity_failures >= settings.max_identity_attempts:
            return render(request, "locked.html", 429)
        if request.method == "GET":
            return render(request, "identity.html", labels=FIELD_LABELS, values={})
        form = await form_of(request)
        if form is None:
            return forbidden(request)
        typed: dict[str, str | None] = {f: form.get(f, "").strip() for f in FIELDS}
        errors = {f: "Ce champ est obligatoire." for f in FIELDS if f != "company" and not typed[f]}
        if errors:
            return render(request, "identity.html", 422, labels=FIELD_LABELS, values=typed, errors=errors)
        ok, _ = await handlers.check_identity(runtime.pool, letter, typed, settings.max_identity_attempts)
        if not ok:
            fresh = await handlers.find(runtime.pool, letter.letter_id)
            failures = fresh.identity_failures if fresh else settings.max_identity_attempts
            left = settings.max_identity_attempts - failures
            if left <= 0:
                return render(request, "locked.html", 429)
            return render(
                request,
                "identity.html",
                422,
                labels=FIELD_LABELS,
                values=typed,
                form_error=(
                    "Ces coordonnées ne correspondent pas à celles du destinataire. "
                    f"Il vous reste {left} essai(s)."
                ),
            )
        # A new session after identification: nothing from before carries over.
        request.session.clear()
        request.session["identified"] = str(letter.letter_id)
        request.session["seen"] = int(time.time())
        return RedirectResponse("/decision", 303)

    # ---------------------------------------------------------------------- decision

    async def decision_page(request: Request) -> Response:
        letter = await identified_letter(request)
        if letter is None:
            return RedirectResponse("/", 303)
        if request.method == "POST":
            form = await form_of(request)
            if form is None:
                return forbidden(request)
            action = form.get("decision")
            if action not in ("accepter", "refuser"):
                return render(
                    request,
                    "decision.html",
                    422,
                    letter=letter,
                    closes_at=rules.window_closes_at(letter.deadline),
                    form_error="Choisissez « Accepter » ou « Refuser ».",
                )
            try:
                letter = await handlers.decide(runtime.pool, letter.letter_id, action == "accepter", rules)
            except DecisionRefused:
                letter = await handlers.find(runtime.pool, letter.letter_id) or letter
        if letter.state == "accepted":
            return RedirectResponse("/courrier", 303)
        if letter.state == "refused":
            return render(request, "refused.html", letter=letter)
        if letter.state == "unclaimed":
            return render(request, "unclaimed.html", letter=letter)
        return render(
            request,
            "decision.html",
            letter=letter,
            closes_at=rules.window_closes_at(letter.deadline),
        )

    # ---------------------------------------------------------------------- download

    async def letter_page(request: Request) -> Response:
        letter = await identified_letter(request)
        if letter is None:
            return RedirectResponse("/", 303)
        if letter.state != "accepted":
            return RedirectResponse("/decision", 303)
        return render(request, "letter.html", letter=letter)

    async def document_download(request: Request) -> Response:
        letter = await identified_letter(request)
        if letter is None or letter.state != "accepted":
            return RedirectResponse("/", 303)
        document_id = request.path_params["document_id"]
        if not any(d["document_id"] == str(document_id) for d in letter.documents):
            return render(request, "not_found.html", 404)
        query = IssueDownloadLink(correlation_id=letter.letter_id, document_id=document_id)
        try:
            reply = await runtime.bus.ask(query, DownloadLinkIssued, timeout=settings.request_timeout_seconds)
        except TimeoutError:
            return render(request, "unavailable.html", 503)
        if not reply.url:
            return render(request, "not_found.html", 404)
        return RedirectResponse(reply.url, 303)

    routes = [
        Route("/", item_number_page, methods=["GET", "POST"]),
        Route("/identite", identity_page, methods=["GET", "POST"]),
        Route("/decision", decision_page, methods=["GET", "POST"]),
        Route("/courrier", letter_page),
        Route("/courrier/documents/{document_id:uuid}", document_download),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    cookie = "__Host-lre-session" if settings.cookie_secure else "lre-session"
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, hsts=settings.cookie_secure),
            Middleware(
                SessionMiddleware,
                secret_key=settings.session_secret.get_secret_value(),
                session_cookie=cookie,
                max_age=idle_seconds,
                same_site="lax",
                https_only=settings.cookie_secure,
            ),
        ],
    )
