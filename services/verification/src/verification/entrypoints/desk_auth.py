"""Who may call the desk API, as FastAPI dependencies: the desk's parts, the caller and the
route's role. A caller is either

- a machine (or an external support UI) with a bearer token: an OIDC JWT checked by
  `adapters.agents.TokenVerifier` (ES256 or RS256 under a key of the configured JWKS,
  unexpired, the configured issuer and audience), roles from its claim; or
- a person signed in to the console (`entrypoints.desk_session`): the session cookie, roles of
  the session. Since a browser sends the cookie by itself, every unsafe method (POST, PUT,
  PATCH, DELETE) also wants the session's CSRF token in the `X-CSRF-Token` header, which
  another site's page cannot read nor set (synchronizer token, OWASP CSRF prevention).
  Every request with the cookie restarts the session's idle time, but those the console makes
  on its own (its queue poll), which carry `X-Desk-Background: 1`: they are refused once the
  session ended like any other, and keep nobody signed in (an idle timeout that a page left
  open could defeat would be none: OWASP ASVS 4.0 V3.3, session timeout).

A request with an `Authorization: Bearer` header is judged by its token alone. A missing,
expired or wrongly signed token, or a session that ended, is answered 401 with a
`WWW-Authenticate` challenge (RFC 6750 §3); a missing or wrong CSRF token 403; a valid caller
without the role 403. A supervisor holds every agent's right.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from verification.adapters.agents import AGENT, SUPERVISOR, Unauthenticated
from verification.entrypoints.desk_web import DeskParts
from verification.service_layer.desk import Agent

CHALLENGE = 'Bearer realm="lre-desk"'
SESSION_COOKIE = "lre_desk_session"
CSRF_HEADER = "X-CSRF-Token"
BACKGROUND_HEADER = "X-Desk-Background"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Parsing only (`auto_error=False`): the refusal is ours, as problem details with the challenge.
bearer = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An OIDC access token of the organisation's identity provider (ES256 or RS256).",
    auto_error=False,
)
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="The console's session, after sign-in at /desk/auth/login (HttpOnly cookie). POST, PUT,"
    f" PATCH and DELETE also want the session's CSRF token (GET /desk/auth/session) in `{CSRF_HEADER}`.",
    auto_error=False,
)


def desk_parts(request: Request) -> DeskParts:
    """The desk's parts, which `verification.entrypoints.desk.desk_api` keeps in the app's state."""
    return cast(DeskParts, request.app.state.desk)


Parts = Annotated[DeskParts, Depends(desk_parts)]


@dataclass(frozen=True)
class Caller:
    """Who is calling, by token or by session, and the roles they hold."""

    subject: str
    roles: frozenset[str]


async def _by_token(parts: DeskParts, token: str) -> Caller:
    try:
        # Blocking: the verifier may fetch the JWKS.
        claims = await asyncio.to_thread(parts.verifier.verify, token)
    except Unauthenticated as exc:
        raise HTTPException(
            401,
            f"invalid token: {exc}",
            headers={"www-authenticate": CHALLENGE + ', error="invalid_token"'},
        ) from exc
    return Caller(str(claims["sub"]), frozenset(parts.verifier.roles(claims)))


def agent_activity(request: Request) -> bool:
    """Whether a console request is the agent's doing, which restarts the session's idle time,
    rather than one the console makes on its own (`X-Desk-Background: 1`; any value counts:
    the header can only shorten a session, never lengthen it)."""
    return BACKGROUND_HEADER not in request.headers


async def _by_session(parts: DeskParts, request: Request, session_id: str) -> Caller:
    sign_in, activity = parts.sessions, agent_activity(request)
    session = await sign_in.current(session_id, activity=activity) if sign_in is not None else None
    if session is None:
        raise HTTPException(
            401,
            "your console session has ended: sign in again (/desk/auth/login)",
            headers={"www-authenticate": CHALLENGE},
        )
    if request.method in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise HTTPException(
                403,
                f"the {CSRF_HEADER} header is missing or is not your session's: reload the console",
            )
    return Caller(session.subject, session.roles)


async def calling(
    parts: Parts,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    session_id: Annotated[str | None, Depends(session_cookie)],
) -> Caller:
    """The caller, by bearer token or else by console session; else 401 (or 403: CSRF)."""
    if credentials is not None:
        if not credentials.credentials.strip():
            raise HTTPException(401, "a bearer token is required", headers={"www-authenticate": CHALLENGE})
        return await _by_token(parts, credentials.credentials.strip())
    if session_id:
        return await _by_session(parts, request, session_id)
    raise HTTPException(401, "a bearer token is required", headers={"www-authenticate": CHALLENGE})


Calling = Annotated[Caller, Depends(calling)]


def role(required: str) -> Callable[[Caller], Awaitable[Agent]]:
    """A dependency: the calling agent, if they hold `required` (or supervisor); else 403."""

    async def agent_with_role(caller: Calling) -> Agent:
        if required not in caller.roles and SUPERVISOR not in caller.roles:
            raise HTTPException(
                403,
                f"the {required} role is required",
                headers={"www-authenticate": CHALLENGE + ', error="insufficient_scope"'},
            )
        return Agent(subject=caller.subject, supervisor=SUPERVISOR in caller.roles)

    return agent_with_role


AnyAgent = Annotated[Agent, Depends(role(AGENT))]
Supervisor = Annotated[Agent, Depends(role(SUPERVISOR))]


def required_role(name: str) -> dict[str, Any]:
    """The OpenAPI extension naming a route's role (`x-required-role`)."""
    return {"x-required-role": name}
