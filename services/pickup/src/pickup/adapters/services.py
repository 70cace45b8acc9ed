"""Requests to other services while a recipient waits on a page (a receipt form, a code
check, a download link): request/reply over the bus (`lre_shared.bus.Bus.ask`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from lre_shared.bus import Bus
from lre_shared.contracts import Message
from pickup.service_layer.ports import ServiceUnavailable

R = TypeVar("R", bound=Message)


@dataclass(frozen=True)
class BusRequests:
    bus: Bus
    timeout_seconds: float
    # Queries whose answer takes longer than most (the signer's check of a signed AR).
    slower: Mapping[type[Message], float] = field(default_factory=dict)

    async def ask(self, query: Message, answer: type[R]) -> R:
        timeout = self.slower.get(type(query), self.timeout_seconds)
        try:
            return await self.bus.ask(query, answer, timeout=timeout)
        except TimeoutError as exc:
            raise ServiceUnavailable(type(query).__name__) from exc
