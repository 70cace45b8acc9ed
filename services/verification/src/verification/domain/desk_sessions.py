"""Support staff's console sessions: what one is, when it ends, which roles it carries.

A session ends at the first of: sign-out, its absolute end (a fixed time after sign-in) and
an idle time without a request. It carries the desk roles the identity provider granted at
sign-in, and nothing else: its id (in the browser's cookie) is kept only as a digest, so a
copy of the database opens no session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

AGENT, SUPERVISOR = "agent", "supervisor"
DESK_ROLES = frozenset({AGENT, SUPERVISOR})
# A sign-in under way is finished within this time, or started again.
SIGN_IN_WINDOW = timedelta(minutes=10)


def digest(secret: str) -> bytes:
    """What is stored of a session id or a sign-in's state (SHA-256: they are random, 256 bits)."""
    return hashlib.sha256(secret.encode()).digest()


def desk_roles(roles: Iterable[str]) -> frozenset[str]:
    """The desk's roles among those the identity provider lists."""
    return frozenset(roles) & DESK_ROLES


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in sent to the identity provider, awaiting its callback."""

    nonce: str
    code_verifier: str
    next_path: str
    started_at: datetime

    def stale(self, now: datetime) -> bool:
        return now >= self.started_at + SIGN_IN_WINDOW


@dataclass(frozen=True)
class StaffSession:
    """An agent's or a supervisor's session in the console."""

    subject: str
    name: str
    roles: frozenset[str]
    csrf_token: str
    id_token: str  # only as the hint of the sign-out at the provider (never a credential here)
    signed_in_at: datetime
    last_seen_at: datetime
    ends_at: datetime  # the absolute end

    def expires_at(self, idle: timedelta) -> datetime:
        """When the session ends unless a request comes first."""
        return min(self.ends_at, self.last_seen_at + idle)

    def live(self, now: datetime, idle: timedelta) -> bool:
        return now < self.expires_at(idle)

    @property
    def supervisor(self) -> bool:
        return SUPERVISOR in self.roles


def safe_next(path: str | None) -> str:
    """Where to send the browser after sign-in: a path of the console, never another site
    (an open redirect would lend the desk's name to a phishing page)."""
    default = "/desk/"
    if not path or not path.startswith("/desk/") or len(path) > 512:
        return default
    if "//" in path or "\\" in path or any(not (" " < c <= "~") for c in path):
        return default
    return path
