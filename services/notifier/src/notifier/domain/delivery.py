"""How a delivery attempt ends, whatever the channel.

Transient failures (timeouts, SMTP 4xx, a dropped connection, provider 5xx) are worth
retrying later: the handler lets them propagate and the bus returns the command after an
exponential, jittered back-off, bounded by the queue's delivery limit. Permanent failures
(SMTP 5xx, an invalid number, provider 4xx, a channel not configured) are not retried:
the next channel of the fallback order is tried instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from lre_shared.contracts import NoticeChannel, NoticeKind


class DeliveryError(Exception):
    """A channel could not deliver the notice; the message says why, for the evidence."""


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help (SMTP 5xx, invalid number, provider 4xx, no configuration)."""


class TransientDeliveryError(DeliveryError):
    """The provider could not take the notice now (4xx, timeout, dropped connection, 5xx)."""


def http_status_error(provider: str, status: int, detail: str) -> DeliveryError:
    """Provider 4xx are permanent (the request itself is wrong), except 429 (slow down)."""
    message = f"{provider} HTTP {status}: {detail}"
    if 400 <= status < 500 and status not in (408, 429):
        return PermanentDeliveryError(message)
    return TransientDeliveryError(message)


@dataclass(frozen=True)
class Attempt:
    """One try of one channel for one message, kept whatever its outcome."""

    notice_id: UUID
    letter_id: UUID
    channel: NoticeChannel
    address: str
    outcome: str  # sent | failed | deferred | delivered
    reason: str | None = None
    provider_message_id: str | None = None
    kind: str = NoticeKind.notice.value  # notice | reminder | code | confirmation
