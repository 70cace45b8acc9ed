"""Support staff sign in to the desk console with the organisation's OpenID Connect provider
(authorization code flow with PKCE, RFC 7636), server side: the provider's tokens never reach
the browser, which holds only a session cookie (backend for frontend).

The console's contract:

- `GET /desk/auth/login?next=/desk/` (a navigation, not a fetch): redirects to the provider;
  after sign-in the provider sends the browser to `GET /desk/auth/callback`, which sets the
  session cookie and redirects to `next` (a path under /desk/, else /desk/). When sign-in is
  refused (no `agent` or `supervisor` role, an error from the provider, a stale or forged
  state) the answer is a short HTML page saying why, with a link to try again; when the
  console's client is not configured, a page saying that sign-in is not configured (503).
- The cookie `lre_desk_session`: HttpOnly, SameSite=Lax, Path=/desk/, Secure when
  `VERIFICATION_DESK_COOKIE_SECURE` is set; it holds a random id, the server keeps only its
  SHA-256. No `Max-Age`: it ends with the browser, and sooner on the server side.
- `GET /desk/auth/session` → 200 `{"subject", "name", "roles", "csrf_token", "expires_at"}`
  (`roles` a sorted list of `agent`, `supervisor`; `expires_at` ISO 8601 with its offset: when
  the session ends unless a request comes first, each request pushing it later up to the
  absolute end), or 401 problem details (RFC 9457) when there is no live session.
- API calls (`/desk/api/...`) with `credentials: 'same-origin'`; every POST, PUT, PATCH or
  DELETE carries the header `X-CSRF-Token: <csrf_token>`, else 403 problem details. A bearer
  token (`Authorization: Bearer ...`) still works for machines and needs no CSRF header.
- A request the console makes on its own, not at the agent's doing (the queue's poll), carries
  `X-Desk-Background: 1`: it is answered (or refused, 401, once the session ended) as any
  other, but does not count as activity. Everything else with the cookie does, this route's
  GET included.
- Sign out: a form `POST /desk/auth/logout` with the field `csrf_token` (or the header
  `X-CSRF-Token`): ends the session, clears the cookie and sends the browser on to the
  provider's end-session endpoint (`id_token_hint`, `post_logout_redirect_uri=<console>/desk/`),
  which sends it back to /desk/. The answer is a 200 page that forwards at once (meta refresh,
  and a link), not an HTTP redirect: browsers hold a form's redirects to the page's CSP
  `form-action`, which lists only 'self'. Without a live session: 303 to /desk/. A missing or
  wrong `csrf_token`: a 403 page, and the session stays.
- The console's own page must allow the form: CSP `form-action 'self'`.

Sessions live in PostgreSQL (`desk_sessions`) and end at the first of: sign-out, an absolute
lifetime from sign-in (`VERIFICATION_DESK_SESSION_HOURS`, 8 h by default) and an idle time
without any request of the agent's doing (`VERIFICATION_DESK_SESSION_IDLE_MINUTES`, 30 by
default).
"""

from __future__ import annotations

import html
import logging
import secrets
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from verification.domain.desk_sessions import SIGN_IN_WINDOW
from verification.entrypoints import problems
from verification.entrypoints.desk_auth import CHALLENGE, CSRF_HEADER, SESSION_COOKIE, agent_activity
from verification.entrypoints.desk_web import NO_STORE, DeskParts
from verification.service_layer.desk_sessions import ProviderUnavailable, SignInRefused

log = logging.getLogger(__name__)

AUTH = "/desk/auth"
LOGIN, CALLBACK, LOGOUT, SESSION = AUTH + "/login", AUTH + "/callback", AUTH + "/logout", AUTH + "/session"
CONSOLE = "/desk/"
SIGN_IN_COOKIE = "lre_desk_sign_in"  # the state of a sign-in under way, for its callback only
MAX_FORM_BYTES = 4096
PAGE_HEADERS = {
    **NO_STORE,
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none';"
    " form-action 'none'",
    "x-frame-options": "DENY",
}


def _page(
    status: int, title: str, message: str, *, link: tuple[str, str], forward: str | None = None
) -> Response:
    """A short page for a person: what happened, and where to go now."""
    text, href = link
    refresh = f'<meta http-equiv="refresh" content="0;url={html.escape(forward)}">' if forward else ""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} — LRE verification desk</title>{refresh}</head>"
        f"<body><main><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        f'<p><a href="{html.escape(href)}">{html.escape(text)}</a></p></main></body></html>'
    )
    return HTMLResponse(body, status, headers=PAGE_HEADERS)


def _set_cookie(
    response: Response, name: str, value: str, *, path: str, secure: bool, max_age: int | None = None
) -> None:
    # Lax, not Strict: the provider's redirect to the callback is a cross-site navigation, and
    # a Strict cookie would not come with the first console page after it.
    response.set_cookie(name, value, max_age=max_age, path=path, secure=secure, httponly=True, samesite="lax")


def _clear_cookie(response: Response, name: str, *, path: str, secure: bool) -> None:
    response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="lax")


def _not_configured() -> Response:
    return _page(
        503,
        "Sign-in is not configured",
        "This desk has no sign-in with the identity provider: its operator sets"
        " VERIFICATION_DESK_CONSOLE_CLIENT_ID and VERIFICATION_DESK_CONSOLE_CLIENT_SECRET."
        " The desk API still takes bearer tokens.",
        link=("Back to the console", CONSOLE),
    )


def _unavailable(exc: ProviderUnavailable) -> Response:
    log.warning("console sign-in: the identity provider failed: %s", exc)
    return _page(
        502,
        "The identity provider does not answer",
        "Signing in needs the organisation's identity provider, which failed to answer: try again"
        " in a minute; if it lasts, tell the desk's operator.",
        link=("Try again", LOGIN),
    )


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the sign-out's), read within MAX_FORM_BYTES."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    return {name: values[0] for name, values in fields.items()}


def routes(parts: DeskParts) -> list[BaseRoute]:
    """The console's sign-in, session and sign-out routes."""
    secure = parts.settings.desk_cookie_secure

    async def login(request: Request) -> Response:
        """Send the browser to the identity provider"""
        sign_in = parts.sessions
        if sign_in is None:
            return _not_configured()
        try:
            started = await sign_in.start(request.query_params.get("next"))
        except ProviderUnavailable as exc:
            return _unavailable(exc)
        response = RedirectResponse(started.authorization_url, 302, headers=NO_STORE)
        _set_cookie(
            response,
            SIGN_IN_COOKIE,
            started.state,
            path=AUTH + "/",
            secure=secure,
            max_age=int(SIGN_IN_WINDOW.total_seconds()),
        )
        return response

    async def callback(request: Request) -> Response:
        """The identity provider's answer: a session, or a page saying why not"""
        sign_in = parts.sessions
        if sign_in is None:
            return _not_configured()
        query = request.query_params
        try:
            signed_in = await sign_in.finish(
                state=query.get("state"),
                code=query.get("code"),
                error=query.get("error"),
                browser_state=request.cookies.get(SIGN_IN_COOKIE),
            )
        except SignInRefused as exc:
            log.info("console sign-in refused: %s", exc.reason)
            response = _page(exc.status, "Sign-in refused", exc.reason, link=("Sign in again", LOGIN))
        except ProviderUnavailable as exc:
            response = _unavailable(exc)
        else:
            if previous := request.cookies.get(SESSION_COOKIE):
                await sign_in.end(previous)  # signing in again replaces the browser's session
            log.info(
                "console sign-in of %s (%s)",
                signed_in.session.subject,
                ", ".join(sorted(signed_in.session.roles)),
            )
            response = RedirectResponse(signed_in.next_path, 303, headers=NO_STORE)
            # No Max-Age: the cookie ends with the browser; the session's end is the server's.
            _set_cookie(response, SESSION_COOKIE, signed_in.session_id, path=CONSOLE, secure=secure)
        _clear_cookie(response, SIGN_IN_COOKIE, path=AUTH + "/", secure=secure)
        return response

    async def session(request: Request) -> Response:
        """Who is signed in, with the CSRF token the console sends back on unsafe requests"""
        sign_in = parts.sessions
        session_id = request.cookies.get(SESSION_COOKIE)
        activity = agent_activity(request)
        current = await sign_in.current(session_id, activity=activity) if sign_in is not None else None
        if sign_in is None or current is None:
            return problems.problem_response(
                401,
                "no console session: sign in at /desk/auth/login",
                problems.instance(request),
                headers={"www-authenticate": CHALLENGE},
            )
        body = {
            "subject": current.subject,
            "name": current.name,
            "roles": sorted(current.roles),
            "csrf_token": current.csrf_token,
            "expires_at": sign_in.expires_at(current).isoformat(),
        }
        return JSONResponse(body, headers=NO_STORE)

    async def logout(request: Request) -> Response:
        """Sign out of the console, then of the identity provider"""
        sign_in = parts.sessions
        session_id = request.cookies.get(SESSION_COOKIE)
        current = await sign_in.current(session_id) if sign_in is not None and session_id else None
        if sign_in is None or current is None or session_id is None:
            response: Response = RedirectResponse(CONSOLE, 303, headers=NO_STORE)
            _clear_cookie(response, SESSION_COOKIE, path=CONSOLE, secure=secure)
            return response
        sent = (await _form(request)).get("csrf_token") or request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent.encode(), current.csrf_token.encode()):
            # Another site's form may post here with the cookie; only the console knows the token.
            return _page(
                403,
                "Sign-out refused",
                "This sign-out did not come from the console (its CSRF token is missing or wrong):"
                " sign out from the console's own button.",
                link=("Back to the console", CONSOLE),
            )
        await sign_in.end(session_id)
        log.info("console sign-out of %s", current.subject)
        end_session = await sign_in.provider.end_session_url(current.id_token)
        if end_session is None:
            response = RedirectResponse(CONSOLE, 303, headers=NO_STORE)
        else:
            # A page that moves on, not a redirect: a form's redirects are held to the console's
            # CSP `form-action`, which does not list the provider's origin.
            response = _page(
                200,
                "Signed out",
                "You are signed out of the desk. Signing you out of the identity provider…",
                link=("Continue", end_session),
                forward=end_session,
            )
        _clear_cookie(response, SESSION_COOKIE, path=CONSOLE, secure=secure)
        return response

    return [
        Route(LOGIN, login, methods=["GET"]),
        Route(CALLBACK, callback, methods=["GET"]),
        Route(SESSION, session, methods=["GET"]),
        Route(LOGOUT, logout, methods=["POST"]),
    ]
