"""Sender systems' API keys, and the limit on failed authentications.

A key reads `lre_<prefix>_<secret>`: the prefix (8 hex digits, not secret) finds the key's
row; the secret is 256 random bits (43 URL-safe characters). Only the SHA-256 of the whole
key is stored (see migration 0011 for why a plain SHA-256 is right for random keys), and the
key is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

PREFIX_HEX = 8
SECRET_BYTES = 32  # 256 bits
KEY_PATTERN = re.compile(r"^lre_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    """A key as issued: `key` goes to the sender once; `prefix` and `sha256` are kept."""

    key: str
    prefix: str
    sha256: str


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> NewKey:
    prefix = secrets.token_hex(PREFIX_HEX // 2)
    key = f"lre_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return NewKey(key, prefix, digest(key))


def prefix_of(presented: str) -> str | None:
    """The prefix of a string shaped like a key; None for anything else."""
    matched = KEY_PATTERN.match(presented)
    return None if matched is None else matched.group(1)


def bearer(authorization: str) -> str:
    """The credentials of an `Authorization: Bearer …` header ("" when there are none)."""
    scheme, _, credentials = authorization.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


@dataclass(frozen=True)
class FailureWindow:
    """A client address's failed authentications since the first of its window (`opened_at`)."""

    opened_at: datetime
    failures: int


@dataclass(frozen=True)
class FailureLimit:
    """Failed authentications per client address: a window opens at an address's first failure;
    after `failures` in it, the address is refused (HTTP 429) until it closes, `window` later.
    The count is one for every replica, in the database (`ports.AuthFailures`)."""

    failures: int
    window: timedelta

    def closed(self, window: FailureWindow, now: datetime) -> bool:
        return window.opened_at <= now - self.window

    def counted(self, window: FailureWindow | None, now: datetime) -> FailureWindow:
        """The window once a failure at `now` is counted in it: a new one if it had closed.
        (`adapters/api_keys.py` counts the same in one statement.)"""
        if window is None or self.closed(window, now):
            return FailureWindow(now, 1)
        return FailureWindow(window.opened_at, window.failures + 1)

    def retry_after(self, window: FailureWindow | None, now: datetime) -> int | None:
        """Seconds until the address may try again (at most the window's); None when it may now."""
        if window is None or window.failures < self.failures or self.closed(window, now):
            return None
        left = int((window.opened_at + self.window - now).total_seconds()) + 1
        return max(1, min(left, math.ceil(self.window.total_seconds())))

    def over(self, window: FailureWindow) -> bool:
        """Whether a failure just counted went past the limit (others filled the window meanwhile)."""
        return window.failures > self.failures
