"""The pickup site (relevé du pli): the recipient's pages, server-rendered, French first.

Nothing about a letter is shown to a visitor who has not passed the identity step, and
the sender stays hidden until acceptance (CPCE R.53-3). Pages: `journey` (item number,
identity, decision), `signing`, `certificate` and `one_time_code` (acknowledgement of
receipt), `downloads`. `create_site` builds the parts every page shares (`pages.Site`)
and keeps them in the application's state.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from lre_shared.admission import FairGate
from lre_shared.clock import Clock, now_utc
from lre_shared.contracts import CheckSignedReceipt, LockKind
from lre_shared.headers import ResponseHeaders
from lre_shared.runtime import ServiceRuntime
from pickup.adapters.archive_stream import HttpArchive
from pickup.adapters.postgres import PgStorage
from pickup.adapters.services import BusRequests
from pickup.bootstrap import recipients_provider
from pickup.entrypoints import certificate, downloads, identity_provider, journey, one_time_code, signing
from pickup.entrypoints.forms import field, form_of, local_path
from pickup.entrypoints.guards import Guards, hold_rules
from pickup.entrypoints.pages import Site, site_of
from pickup.entrypoints.rendering import Pages
from pickup.entrypoints.translations import LANGUAGES
from pickup.entrypoints.visits import Visits, forget
from pickup.service_layer import handlers
from pickup.service_layer.limits import AddressLimits
from pickup.service_layer.ports import ServiceUnavailable
from pickup.settings import PickupSettings

HERE = Path(__file__).resolve().parent.parent

log = logging.getLogger(__name__)

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        # blob: for the preview of an identity document chosen for upload (static/preview.js).
        b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        b"frame-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        b"object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class LiveSessions:
    """Inside the session middleware: a cookie whose server-side session has ended (signed
    out, idle) is read as a new visit, its language kept, whatever its signature says."""

    def __init__(self, app: ASGIApp, visits: Visits) -> None:
        self.app = app
        self.visits = visits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/static/"):
            session = scope.get("session")
            if session is not None and not await self.visits.live(session):
                forget(session)
        await self.app(scope, receive, send)


class SecurityHeaders(ResponseHeaders):
    def __init__(self, app: ASGIApp, hsts: bool, form_targets: tuple[str, ...] = ()) -> None:
        headers = list(SECURITY_HEADERS)
        if form_targets:
            # The button that starts a sign-in at the identity provider posts here, and is
            # redirected there: form-action covers the redirect, so the provider is named.
            name, policy = headers[0]
            extra = " ".join(form_targets).encode()
            headers[0] = (name, policy.replace(b"form-action 'self'", b"form-action 'self' " + extra))
        if hsts:
            headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        super().__init__(app, headers)


async def switch_language(request: Request) -> Response:
    """Switch the site's language (the form on every page), then go back to the page.

    A posted form with its CSRF token, never a link: it changes the session's language and,
    on a letter's pages, the language of the letter's notices, reminders and codes, which
    another site could otherwise make a visitor's browser do (an image pointing here)."""
    site = site_of(request)
    form = await form_of(request)
    if form is None:
        return site.pages.forbidden(request)
    chosen = request.path_params["language"]
    if chosen in LANGUAGES:
        request.session["lang"] = chosen
        letter_id = request.session.get("identified")
        if isinstance(letter_id, str):
            # On the letter's pages: its notices, reminders and codes follow the choice.
            await handlers.change_language(
                site.storage, UUID(letter_id), "en" if chosen == "en" else "fr", site.clock()
            )
    return RedirectResponse(local_path(field(form, "retour")), 303)


async def unavailable(request: Request, exc: Exception) -> Response:
    return site_of(request).pages.render(request, "unavailable.html", 503, retry=request.url.path)


ROUTES: list[BaseRoute] = [
    *journey.ROUTES,
    *signing.ROUTES,
    *certificate.ROUTES,
    *one_time_code.ROUTES,
    *identity_provider.ROUTES,
    *downloads.ROUTES,
    Route("/langue/{language}", switch_language, methods=["POST"]),
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]


def provider_origins(settings: PickupSettings) -> tuple[str, ...]:
    if not settings.identity_provider_issuer:
        return ()
    parts = urlsplit(settings.identity_provider_issuer)
    return (f"{parts.scheme}://{parts.netloc}",)


def create_site(runtime: ServiceRuntime, settings: PickupSettings, clock: Clock = now_utc) -> Starlette:
    rules = settings.rules()
    if settings.cookie_secure and not settings.trusted_proxies:
        # Behind a TLS-terminating proxy every visitor would share the proxy's address, and
        # one visitor's wrong answers would lock everyone out.
        log.warning(
            "no PICKUP_TRUSTED_PROXIES: per-address limits count the socket peer; behind a reverse"
            " proxy, list it so that X-Forwarded-For is read"
        )
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(), enable_async=False
    )
    storage = PgStorage(lambda: runtime.pool)
    pages = Pages(templates, rules.timezone)
    visits = Visits(storage, timedelta(minutes=settings.session_idle_minutes))
    delays = rules.lock_delays_minutes
    guards = Guards(
        storage=storage,
        pages=pages,
        clock=clock,
        address_limits=AddressLimits(
            max_failures=settings.max_address_failures,
            window=timedelta(minutes=settings.address_window_minutes),
            lockout=timedelta(minutes=settings.address_lockout_minutes),
        ),
        proxies=settings.proxy_networks(),
        hold_rules={
            LockKind.identity: hold_rules(settings.max_identity_attempts, delays, settings.lock_addresses),
            LockKind.code: hold_rules(rules.code_attempts_per_address, delays, settings.lock_addresses),
        },
    )
    site = Site(
        settings=settings,
        rules=rules,
        clock=clock,
        storage=storage,
        services=BusRequests(
            runtime.bus,
            settings.request_timeout_seconds,
            {CheckSignedReceipt: settings.receipt_check_timeout_seconds},
        ),
        archive=HttpArchive(settings.request_timeout_seconds),
        pages=pages,
        visits=visits,
        guards=guards,
        identity_provider=recipients_provider(settings),
    )
    cookie = "__Host-lre-session" if settings.cookie_secure else "lre-session"
    app = Starlette(
        routes=ROUTES,
        exception_handlers={ServiceUnavailable: unavailable},
        middleware=[
            Middleware(FairGate, limit=settings.concurrent_requests or settings.db_pool_size),
            Middleware(SecurityHeaders, hsts=settings.cookie_secure, form_targets=provider_origins(settings)),
            Middleware(
                SessionMiddleware,
                secret_key=settings.session_secret.get_secret_value(),
                session_cookie=cookie,
                max_age=settings.session_idle_minutes * 60,
                same_site="lax",
                https_only=settings.cookie_secure,
            ),
            Middleware(LiveSessions, visits=visits),
        ],
    )
    app.state.site = site
    return app
