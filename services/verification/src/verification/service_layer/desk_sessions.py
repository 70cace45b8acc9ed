"""Signing support staff in to the desk console with OpenID Connect (authorization code with
PKCE, RFC 7636, and a confidential client) and keeping their sessions.

At the callback the desk verifies the ID token (signature under the provider's keys, issuer,
audience, nonce, expiry) and the access token for the desk API exactly as the API verifies a
bearer token (issuer, audience, roles): a session grants no more than that token would. The
tokens are not kept (but the ID token, as the hint of the sign-out at the provider) and not
refreshed: the session carries its own expiry, the desk's policy (an absolute lifetime from
sign-in, an idle time), and the roles of the sign-in; a change of roles at the provider takes
effect at the next sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from lre_shared.clock import Clock
from verification.domain.desk_sessions import (
    PendingSignIn,
    StaffSession,
    desk_roles,
    digest,
    safe_next,
)


class SignInRefused(Exception):
    """A sign-in that ends without a session: `status` and a reason the person can act on."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ProviderUnavailable(Exception):
    """The identity provider did not answer, or answered nonsense."""


@dataclass(frozen=True)
class Tokens:
    id_token: str
    access_token: str


class IdentityProvider(Protocol):
    """The organisation's OpenID provider, as the console's confidential client sees it."""

    async def authorization_url(self, state: str, nonce: str, code_challenge: str) -> str: ...

    async def exchange(self, code: str, code_verifier: str) -> Tokens:
        """The tokens for an authorization code; SignInRefused or ProviderUnavailable."""

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once verified; SignInRefused when it is not valid."""

    async def end_session_url(self, id_token_hint: str) -> str | None:
        """Where the browser signs out at the provider, back to the console after."""


class SessionStore(Protocol):
    """Sign-ins under way and sessions, each under the digest of its secret."""

    async def add_sign_in(self, state_hash: bytes, sign_in: PendingSignIn) -> None: ...

    async def take_sign_in(self, state_hash: bytes) -> PendingSignIn | None:
        """The sign-in, removed: a state is used once."""

    async def add(self, session_hash: bytes, session: StaffSession) -> None: ...

    async def get(self, session_hash: bytes) -> StaffSession | None: ...

    async def touch(self, session_hash: bytes, now: datetime) -> None: ...

    async def remove(self, session_hash: bytes) -> None: ...

    async def remove_ended(self, now: datetime, idle: timedelta) -> int:
        """Forget sessions and sign-ins that ended; how many sessions."""


# An agent's request restarts a session's idle time (the console's own polls do not); within
# this much of the last restart it is not written again (the idle end is then as much early,
# at most).
TOUCH_AFTER = timedelta(seconds=30)

# Checks the API's access token as the bearer API does: its claims and desk roles, or raises.
AccessCheck = Callable[[str], tuple[dict[str, Any], set[str]]]


def pkce_challenge(verifier: str) -> str:
    """S256 (RFC 7636 §4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class Started:
    authorization_url: str
    state: str  # the browser keeps it too (a cookie): the callback must come from the same browser


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    session: StaffSession
    next_path: str


@dataclass(eq=False)
class ConsoleSignIn:
    """The console's sign-in and sessions over an identity provider and a store."""

    store: SessionStore
    provider: IdentityProvider
    check_access: AccessCheck
    clock: Clock
    _: KW_ONLY
    lifetime: timedelta
    idle: timedelta

    async def start(self, next_path: str | None) -> Started:
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        pending = PendingSignIn(nonce, verifier, safe_next(next_path), self.clock())
        url = await self.provider.authorization_url(state, nonce, pkce_challenge(verifier))
        await self.store.add_sign_in(digest(state), pending)
        return Started(url, state)

    async def finish(
        self, *, state: str | None, code: str | None, error: str | None, browser_state: str | None
    ) -> SignedIn:
        """The session of a sign-in the provider sent back, or SignInRefused saying why."""
        if error:
            # RFC 6749 §4.1.2.1: e.g. access_denied when the person cancelled.
            raise SignInRefused(403, f"the identity provider did not sign you in ({error}): try again")
        if not state or not browser_state or not secrets.compare_digest(state, browser_state):
            # No cookie, or another browser's state: a forged or replayed callback (login CSRF).
            raise SignInRefused(400, "this sign-in was not started in this browser: start again")
        pending = await self.store.take_sign_in(digest(state))
        now = self.clock()
        if pending is None or pending.stale(now):
            raise SignInRefused(400, "this sign-in has expired or was already used: start again")
        if not code:
            raise SignInRefused(400, "the identity provider sent no authorization code: start again")
        tokens = await self.provider.exchange(code, pending.code_verifier)
        identity = await self.provider.verify_id_token(tokens.id_token, pending.nonce)
        try:
            access, roles = self.check_access(tokens.access_token)
        except Exception as exc:
            raise SignInRefused(
                403, "the identity provider gave no valid token for the desk API: ask an administrator"
            ) from exc
        if access.get("sub") != identity.get("sub"):
            raise SignInRefused(403, "the tokens of this sign-in name different people: start again")
        granted = desk_roles(roles)
        if not granted:
            raise SignInRefused(
                403,
                "your account has neither the agent nor the supervisor role of the desk:"
                " ask your supervisor to grant one, then sign in again",
            )
        name = identity.get("name") or identity.get("preferred_username") or identity["sub"]
        session = StaffSession(
            subject=str(identity["sub"]),
            name=str(name),
            roles=granted,
            csrf_token=secrets.token_urlsafe(32),
            id_token=tokens.id_token,
            signed_in_at=now,
            last_seen_at=now,
            ends_at=now + self.lifetime,
        )
        session_id = secrets.token_urlsafe(32)
        await self.store.add(digest(session_id), session)
        # Ended sessions are forgotten as others begin: no sweeper of their own.
        await self.store.remove_ended(now, self.idle)
        return SignedIn(session_id, session, pending.next_path)

    async def current(self, session_id: str | None, *, activity: bool = True) -> StaffSession | None:
        """The live session of this id, its idle time restarted; None when there is none.

        `activity=False` for a request the console makes on its own (its queue poll): the
        session must still be live, but its idle time is not restarted, else a console left
        open would never idle out. Only what the agent does keeps a session going."""
        if not session_id:
            return None
        key = digest(session_id)
        session = await self.store.get(key)
        if session is None:
            return None
        now = self.clock()
        if not session.live(now, self.idle):
            await self.store.remove(key)
            return None
        if not activity or now - session.last_seen_at < TOUCH_AFTER:
            return session
        await self.store.touch(key, now)
        return replace(session, last_seen_at=now)

    async def end(self, session_id: str) -> StaffSession | None:
        """Sign out: the session is gone; it is returned, for the sign-out at the provider."""
        key = digest(session_id)
        session = await self.store.get(key)
        await self.store.remove(key)
        return session

    def expires_at(self, session: StaffSession) -> datetime:
        return session.expires_at(self.idle)
