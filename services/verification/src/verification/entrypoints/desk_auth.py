"""Who may call the desk API, as FastAPI dependencies: the desk's parts, the bearer token
(an OIDC JWT checked by `adapters.agents.TokenVerifier`: ES256 or RS256 under a key of the
configured JWKS, unexpired, the configured issuer and audience) and the route's role.

A missing, expired or wrongly signed token is answered 401 with a `WWW-Authenticate`
challenge (RFC 6750 §3); a valid token without the role 403. A supervisor holds every
agent's right.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, cast

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from verification.adapters.agents import AGENT, SUPERVISOR, Unauthenticated
from verification.entrypoints.desk_web import DeskParts
from verification.service_layer.desk import Agent

CHALLENGE = 'Bearer realm="lre-desk"'

# Parsing only (`auto_error=False`): the refusal is ours, as problem details with the challenge.
bearer = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An OIDC access token of the organisation's identity provider (ES256 or RS256).",
    auto_error=False,
)


def desk_parts(request: Request) -> DeskParts:
    """The desk's parts, which `verification.entrypoints.desk.desk_api` keeps in the app's state."""
    return cast(DeskParts, request.app.state.desk)


Parts = Annotated[DeskParts, Depends(desk_parts)]


async def token_claims(
    parts: Parts, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> dict[str, Any]:
    """The claims of the request's bearer token, verified; else 401."""
    if credentials is None or not credentials.credentials.strip():
        raise HTTPException(401, "a bearer token is required", headers={"www-authenticate": CHALLENGE})
    try:
        # Blocking: the verifier may fetch the JWKS.
        return await asyncio.to_thread(parts.verifier.verify, credentials.credentials.strip())
    except Unauthenticated as exc:
        raise HTTPException(
            401,
            f"invalid token: {exc}",
            headers={"www-authenticate": CHALLENGE + ', error="invalid_token"'},
        ) from exc


Claims = Annotated[dict[str, Any], Depends(token_claims)]


def role(required: str) -> Callable[[DeskParts, dict[str, Any]], Awaitable[Agent]]:
    """A dependency: the calling agent, if the token grants `required` (or supervisor); else 403."""

    async def agent_with_role(parts: Parts, claims: Claims) -> Agent:
        roles = parts.verifier.roles(claims)
        if required not in roles and SUPERVISOR not in roles:
            raise HTTPException(
                403,
                f"the {required} role is required",
                headers={"www-authenticate": CHALLENGE + ', error="insufficient_scope"'},
            )
        return Agent(subject=str(claims["sub"]), supervisor=SUPERVISOR in roles)

    return agent_with_role


AnyAgent = Annotated[Agent, Depends(role(AGENT))]
Supervisor = Annotated[Agent, Depends(role(SUPERVISOR))]


def required_role(name: str) -> dict[str, Any]:
    """The OpenAPI extension naming a route's role (`x-required-role`)."""
    return {"x-required-role": name}
