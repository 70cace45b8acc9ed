"""A channel delivers a notice to one address; each provider sits behind this interface
(`notifier.service_layer.ports.Channel`).

`deliver` returns the provider's id for the message and raises `PermanentDeliveryError`
or `TransientDeliveryError` (notifier.domain.delivery) when it cannot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

from lre_shared.contracts import NoticeKind
from notifier.adapters.templates import render
from notifier.domain.delivery import PermanentDeliveryError
from notifier.domain.email import Email
from notifier.domain.notice import Notice
from notifier.domain.rate import TokenBucket
from notifier.service_layer.ports import Channel, Mailer


@dataclass(frozen=True)
class EmailChannel:
    """The legal channel (CPCE R.53-3): multipart text + HTML, List-Unsubscribe on reminders."""

    mailer: Mailer

    async def deliver(self, notice: Notice, address: str, key: UUID | None = None) -> str:
        text = render(notice)
        headers: tuple[tuple[str, str], ...] = ()
        if notice.kind is NoticeKind.reminder and notice.opt_out_url:
            # RFC 8058: one-click opt-out, a POST to the same URL, covered by DKIM.
            headers = (
                ("List-Unsubscribe", f"<{notice.opt_out_url}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            )
        return await self.mailer.send(Email(address, text.subject, text.text, text.html, headers, key=key))


@dataclass(frozen=True)
class UnconfiguredChannel:
    """A channel the operator did not configure: refused for good, naming what is missing."""

    name: str
    missing: tuple[str, ...]

    async def deliver(self, notice: Notice, address: str, key: UUID | None = None) -> str:
        raise self.refusal()

    async def send_text(self, to: str, body: str) -> str:
        raise self.refusal()

    def refusal(self) -> PermanentDeliveryError:
        return PermanentDeliveryError(
            f"the {self.name} channel is not configured: set {', '.join(self.missing)}"
        )


@dataclass
class RateLimited:
    """Holds each delivery until the provider's token bucket has a token for it."""

    channel: Channel
    bucket: TokenBucket
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    waited: float = field(default=0.0, init=False)

    async def deliver(self, notice: Notice, address: str, key: UUID | None = None) -> str:
        wait = self.bucket.reserve(self.clock())
        if wait > 0:
            self.waited += wait
            await self.sleep(wait)
        return await self.channel.deliver(notice, address, key)
