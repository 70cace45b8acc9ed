"""Sender systems' API keys, and the limit on failed authentications.

A key reads `lre_<prefix>_<secret>`: the prefix (8 hex digits, not secret) finds the key's
row; the secret is 256 random bits (43 URL-safe characters). Only the SHA-256 of the whole
key is stored (see migration 0011 for why a plain SHA-256 is right for random keys), and the
key is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
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


@dataclass
class FailureLimit:
    """Failed authentications per client address: after `failures` within `window`, the
    address is refused (HTTP 429) until the oldest of them leaves the window. Kept in each
    replica's memory: with n replicas behind the ingress an address gets at most n times as
    many tries, still far too few to guess a 256-bit key."""

    failures: int
    window: timedelta
    seen: dict[str, deque[datetime]] = field(default_factory=dict)

    def _recent(self, address: str, now: datetime) -> deque[datetime]:
        times = self.seen.get(address)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self.seen[address]
        return times

    def retry_after(self, address: str, now: datetime) -> int | None:
        """Seconds until `address` may try again; None when it may now."""
        times = self._recent(address, now)
        if len(times) < self.failures:
            return None
        return max(1, int((times[0] + self.window - now).total_seconds()) + 1)

    def failed(self, address: str, now: datetime) -> None:
        self._recent(address, now)
        self.seen.setdefault(address, deque()).append(now)
        if len(self.seen) > 100_000:  # bounded memory under a spray from many addresses
            self.seen.pop(next(iter(self.seen)))
