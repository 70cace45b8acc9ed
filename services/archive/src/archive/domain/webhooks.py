"""Webhooks: which URLs a sender system may register, and when a failed delivery is tried again.

A delivery is retried until the receiver answers 2xx, for at least a day: 30 s, 1, 2, 5 and
10 minutes, then every 15 minutes up to 48 hours from the event (some 195 attempts), each wait
jittered by up to a tenth either way so that receivers coming back up are not hit by every
replica at once. Then the delivery fails for good, and the log says so.

Events of one sender are sent concurrently and retried independently, so they may arrive
out of order: a receiver orders a letter's events by their `sequence`.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000


@dataclass(frozen=True)
class RetrySchedule:
    """The waits after each failed attempt: `steps` first, then `every` until `give_up_after`
    from the event has passed."""

    steps: Sequence[timedelta] = (
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=5),
        timedelta(minutes=10),
    )
    every: timedelta = timedelta(minutes=15)
    give_up_after: timedelta = timedelta(hours=48)
    jitter: float = 0.1

    def wait_after(self, attempts: int, draw: Callable[[], float] = random.random) -> timedelta:
        """How long to wait after the `attempts`-th failed attempt (1 for the first)."""
        base = self.steps[attempts - 1] if 0 < attempts <= len(self.steps) else self.every
        return base * (1 + self.jitter * (2 * draw() - 1))

    def next_attempt(
        self, created_at: datetime, attempts: int, now: datetime, draw: Callable[[], float] = random.random
    ) -> datetime | None:
        """When to try again after a failed attempt at `now`, or None: given up."""
        at = now + self.wait_after(attempts, draw)
        return None if at > created_at + self.give_up_after else at


class UrlRefused(ValueError):
    """A webhook URL this platform will not call; the message says why and what to do."""


@dataclass(frozen=True)
class UrlPolicy:
    """`allow_http`: plain http (local and test platforms only); `allow_private`: addresses
    of loopback, link-local and private networks (local and test platforms only: elsewhere a
    sender could make the archive call the cluster's own services or a cloud's metadata
    endpoint on its behalf)."""

    allow_http: bool = False
    allow_private: bool = False

    def check_url(self, url: str) -> tuple[str, int]:
        """The host and port of `url`, if its form is acceptable; raises `UrlRefused`."""
        if len(url) > MAX_URL_LENGTH:
            raise UrlRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
        parts = urlsplit(url)
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parts.scheme not in schemes:
            raise UrlRefused(f"the URL must start with {' or '.join(s + '://' for s in schemes)}")
        if parts.username or parts.password:
            raise UrlRefused("the URL must not carry a user name or password: authenticate by the signature")
        if parts.fragment:
            raise UrlRefused("the URL must not carry a fragment (#…)")
        try:
            port = parts.port
        except ValueError:
            raise UrlRefused("the URL's port is not a number from 1 to 65535") from None
        if not parts.hostname:
            raise UrlRefused("the URL names no host")
        return parts.hostname, port or (443 if parts.scheme == "https" else 80)

    def check_addresses(self, host: str, addresses: Iterable[str]) -> None:
        """Refuse a host that resolves to nothing, or to any address not public."""
        resolved = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
        if not resolved:
            raise UrlRefused(f"{host} resolves to no address")
        if self.allow_private:
            return
        for address in resolved:
            if not _public(address):
                raise UrlRefused(
                    f"{host} resolves to {address}, a loopback, link-local, private or reserved"
                    " address: give a URL on the internet"
                )


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast
