"""A consumer's inbox in memory, for unit tests that replay a letter's events out of order
and more than once: the same rule as `lre_shared.bus.inbox.claim` (a message is handled
the first time its id is seen on a queue; the same message again is acknowledged without a
second effect; another message under an id already taken is not handled), keyed by queue as
each consumer's queues are (`<consumer>.<routing key>`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar
from uuid import UUID

from lre_shared.bus.inbox import Claim, digest
from lre_shared.contracts import Message

M = TypeVar("M", bound=Message)


@dataclass
class MemoryInbox:
    seen: dict[tuple[str, UUID], bytes] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)

    def claim(self, message: Message) -> Claim:
        key = (message.routing_key, message.message_id)
        body = digest(message.to_json())
        stored = self.seen.get(key)
        if stored is None:
            self.seen[key] = body
            claim = Claim.fresh
        else:
            claim = Claim.duplicate if stored == body else Claim.reused
        self.claims.append(claim)
        return claim

    async def deliver(self, message: M, handle: Callable[[M], Awaitable[object]]) -> Claim:
        """Hand `message` to `handle` unless the inbox has it already (as the consumer does,
        in the transaction of the effect)."""
        claim = self.claim(message)
        if claim is Claim.fresh:
            await handle(message)
        return claim
