"""What every page of the pickup site shares: rendering in the visitor's language, CSRF,
the session, the client address and its limits, asking other services.

The pickup site (relevé du pli): the recipient's pages, server-rendered, French first.

Nothing about a letter is shown to a visitor who has not passed the identity step, and
the sender stays hidden until acceptance (CPCE R.53-3). The journey: item number →
identity → accept or refuse → sign the acknowledgement of receipt (personal certificate
or one-time code) → downloads for 48 hours from the signature. Each page sends a visitor
who is not at its step to the step they are at.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

from jinja2 import Environment
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse

from lre_shared.messages import LockKind
from lre_shared.messages import Message as BusMessage
from lre_shared.rules import RulesProfile
from lre_shared.runtime import ServiceRuntime
from pickup.domain.locks import HoldRules, Holds
from pickup.entrypoints.catalogue import LANGUAGES, Language, language_of, text
from pickup.service_layer import handlers, limits, sessions
from pickup.service_layer.handlers import LetterView
from pickup.service_layer.limits import AddressLimits, Guess
from pickup.settings import PickupSettings

Clock = Callable[[], datetime]
R = TypeVar("R", bound=BusMessage)


# How long after this site records a step the other services may still be hearing of it.
CATCH_UP = timedelta(minutes=2)


class ServiceUnavailable(Exception):
    """Another service did not answer in time: the page says so and offers to retry."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(request: Request, proxies: Sequence[Network]) -> str:
    """The client's address: the socket peer, or, when the peer is a trusted proxy, the
    nearest address in X-Forwarded-For that is not one of the trusted proxies."""
    peer = request.client.host if request.client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def format_size(size: int, language: Language) -> str:
    megabytes = size / (1024 * 1024)
    number = f"{megabytes:.0f}" if megabytes >= 1 else f"{size / 1024:.0f}"
    unit = ("Mo" if language == "fr" else "MB") if megabytes >= 1 else ("Ko" if language == "fr" else "KB")
    return f"{number} {unit}"


@dataclass
class Site:
    """What every page needs: the service, its settings and rules, templates, the clock."""

    runtime: ServiceRuntime
    settings: PickupSettings
    rules: RulesProfile
    templates: Environment
    clock: Clock
    address_limits: AddressLimits
    proxies: tuple[Network, ...]

    # ---------------------------------------------------------------------- rendering

    def language(self, request: Request) -> Language:
        return language_of(request.session.get("lang"))

    def t(self, request: Request, key: str, **values: object) -> str:
        return text(self.language(request), key, **values)

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        language = self.language(request)
        context.setdefault("csrf_token", self.csrf_token(request))
        context.setdefault("errors", {})
        context.setdefault("form_error", None)
        context.setdefault("signed_in", signed_in(request.session))
        body = self.templates.get_template(name).render(
            request=request,
            lang=language,
            _=lambda key, **values: text(language, key, **values),
            when=lambda moment: self.when(moment, language),
            size=lambda n: format_size(n, language),
            **context,
        )
        return HTMLResponse(body, status)

    def when(self, moment: datetime, language: Language) -> str:
        local = moment.astimezone(self.rules.timezone)
        return text(language, "time.at", date=local.strftime("%d/%m/%Y"), time=local.strftime("%H:%M"))

    def problem(self, request: Request, message: str, status: int = 409) -> HTMLResponse:
        return self.render(request, "problem.html", status, message=message)

    def catching_up(self, recorded_at: datetime | None, refusal: str) -> None:
        """Another service refused what this site's own record allows (the acceptance, the
        signature): when the record is fresh, that service has not heard of it yet (events go
        by the bus, a moment after this site recorded them) and a retry shortly after will
        do: the page asking to retry (503). Older refusals are the caller's to show."""
        if self.clock() - (recorded_at or self.clock()) < CATCH_UP:
            raise ServiceUnavailable(refusal)

    # ------------------------------------------------------------- session and forms

    def csrf_token(self, request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    async def form_of(self, request: Request) -> FormData | None:
        """The posted form (urlencoded or multipart), or None when its CSRF token is missing
        or wrong."""
        form = await request.form()
        sent = form.get("csrf_token")
        expected = request.session.get("csrf")
        if not isinstance(sent, str) or not isinstance(expected, str):
            return None
        if not secrets.compare_digest(sent, expected):
            return None
        return form

    def forbidden(self, request: Request) -> HTMLResponse:
        request.session.pop("csrf", None)
        return self.render(request, "expired.html", 403)

    def touch(self, request: Request) -> bool:
        """Keep the session alive; False once it has been idle too long."""
        now = int(time.time())
        seen = request.session.get("seen")
        if isinstance(seen, int) and now - seen > self.settings.session_idle_minutes * 60:
            forget(request.session)
            return False
        request.session["seen"] = now
        return True

    async def renew_session(self, request: Request, previous: object = None) -> None:
        """A new server-side session for this cookie; the one it had (or `previous`) ends."""
        previous = previous or request.session.get("sid")
        request.session["sid"] = await sessions.begin(
            self.runtime.pool,
            timedelta(minutes=self.settings.session_idle_minutes),
            previous if isinstance(previous, str) else None,
        )

    async def live_session(self, session: dict[str, Any]) -> bool:
        """Whether a session that grants a step still has its server-side session."""
        if not signed_in(session):
            return True
        session_id = session.get("sid")
        return isinstance(session_id, str) and await sessions.live(
            self.runtime.pool, session_id, timedelta(minutes=self.settings.session_idle_minutes)
        )

    async def sign_out(self, request: Request) -> None:
        session_id = request.session.get("sid")
        if isinstance(session_id, str):
            await sessions.end(self.runtime.pool, session_id)
        forget(request.session)

    async def identified_letter(self, request: Request) -> LetterView | None:
        if not self.touch(request):
            return None
        letter_id = request.session.get("identified")
        if not isinstance(letter_id, str):
            return None
        return await handlers.find(self.runtime.pool, UUID(letter_id))

    # ------------------------------------------------------------------ other services

    async def ask(self, query: BusMessage, answer: type[R]) -> R:
        try:
            return await self.runtime.bus.ask(query, answer, timeout=self.settings.request_timeout_seconds)
        except TimeoutError as exc:
            raise ServiceUnavailable(type(query).__name__) from exc

    # ------------------------------------------------------------ per-address limits

    def address(self, request: Request) -> str:
        return client_address(request, self.proxies)

    async def address_locked(self, request: Request, kind: Guess) -> HTMLResponse | None:
        """The lockout page when this client address may not try `kind` now."""
        until = await limits.locked_until(self.runtime.pool, kind, self.address(request), self.clock())
        return None if until is None else self.address_lockout(request, until)

    async def wrong_answer(self, request: Request, kind: Guess) -> HTMLResponse | None:
        """Count a wrong answer from this address; the lockout page if it just locked."""
        until = await limits.record_failure(
            self.runtime.pool, kind, self.address(request), self.address_limits, self.clock()
        )
        return None if until is None else self.address_lockout(request, until)

    def address_lockout(self, request: Request, until: datetime) -> HTMLResponse:
        return self.render(
            request, "locked.html", 429, reason="address", until=self.when(until, self.language(request))
        )

    # ------------------------------------------------------- holds on one item (domain.locks)

    def hold_rules(self, kind: LockKind) -> HoldRules:
        settings = self.settings
        return HoldRules(
            max_failures=settings.max_identity_attempts
            if kind is LockKind.identity
            else settings.max_code_attempts,
            delays=tuple(timedelta(minutes=m) for m in settings.lock_delays_minutes),
            hold_addresses=settings.lock_addresses,
        )

    def held(self, request: Request, letter: LetterView, kind: LockKind) -> HTMLResponse | None:
        """The locked page, with its end, while a hold keeps this client address out of the
        item's `kind` step."""
        stored = letter.identity_holds if kind is LockKind.identity else letter.code_holds
        until = Holds.from_json(stored).held_until(self.address(request), self.clock())
        return None if until is None else self.item_locked(request, kind, until)

    def item_locked(self, request: Request, kind: LockKind, until: datetime) -> HTMLResponse:
        reason = "item" if kind is LockKind.identity else "code"
        return self.render(
            request, "locked.html", 429, reason=reason, until=self.when(until, self.language(request))
        )

    # ---------------------------------------------------------------------- journey

    def download_window_ends_at(self, letter: LetterView) -> datetime | None:
        # The rules profile's, as the archive's: the window runs from the AR's signature, when
        # the content became available, not from the acceptance.
        if letter.signed_at is None:
            return None
        return self.rules.download_window_ends_at(letter.signed_at)


# What a session holds once the visitor is past the item number step.
GRANTS = ("item", "identified", "sid")


def signed_in(session: dict[str, Any]) -> bool:
    return any(key in session for key in GRANTS)


def forget(session: dict[str, Any]) -> None:
    """Empty the session but for the visitor's language."""
    language = session.get("lang")
    session.clear()
    if language in LANGUAGES:
        session["lang"] = language


def step_of(letter: LetterView) -> str:
    """Where the recipient of `letter` stands in the journey."""
    if letter.state != "accepted":
        return "/decision"  # awaiting, refused or unclaimed: the decision page says which
    if letter.signed_at is None:
        return "/signature"
    return "/courrier"


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def upload(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    return value if isinstance(value, UploadFile) and value.filename else None


def too_large(request: Request, limit: int) -> bool:
    """Whether a multipart post may carry more than `limit` bytes of file (checked before
    reading it: a request with no length is refused too)."""
    length = request.headers.get("content-length")
    return length is None or not length.isdigit() or int(length) > limit + 64 * 1024


def local_path(target: str | None) -> str:
    """`target` if it is a path of this site, else the home page (no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
