"""How a delivery attempt ends, whatever the channel.

Transient failures (timeouts, SMTP 4xx, a dropped connection, provider 5xx) are worth
retrying later: the handler lets them propagate, and the bus, taking them for an outage of the
provider (`lre_shared.bus.Outage`), tries the command again in place for as long as
`outage_patience_seconds`, then returns it after an exponential, jittered back-off, bounded by
the queue's delivery limit. Permanent failures
(SMTP 5xx, an invalid number, provider 4xx, a channel not configured) are not retried:
the next channel of the fallback order is tried instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from uuid import UUID, uuid5

from lre_shared.bus import Outage
from lre_shared.contracts import NoticeChannel, NoticeKind


class DeliveryError(Exception):
    """A channel could not deliver the notice; the message says why, for the evidence."""


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help (SMTP 5xx, invalid number, provider 4xx, no configuration)."""


class TransientDeliveryError(DeliveryError, Outage):
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
    outcome: str  # sending (a mark, before the provider is called) | sent | failed | deferred | delivered
    reason: str | None = None
    provider_message_id: str | None = None
    kind: str = NoticeKind.notice.value  # notice | reminder | code | confirmation


# Fixed for ever: changing it would give a resent notice another identity than its first send.
DELIVERY_NAMESPACE = UUID("5b0f3c1e-7d0a-4c55-9a3e-2f6c0d9e8b41")


def delivery_key(notice_id: UUID, channel: NoticeChannel) -> UUID:
    """The identity of one notice on one channel, the same on every delivery of the command
    that asked for it: the email's Message-ID is made of it, so a resend after a crash is
    the same message to mail systems (RFC 5322 §3.6.4)."""
    return uuid5(DELIVERY_NAMESPACE, f"{notice_id}/{channel.value}")


class Redelivery(Enum):
    """What a delivery of a command does on a channel, given what the channel recorded before."""

    send = "send"  # never tried, or every try ended (deferred, failed for now)
    resend = "resend"  # marked sending with no outcome: the provider may have it already
    sent = "sent"  # the provider took it and that was recorded: nothing to send


def redelivery(previous: Attempt | None) -> Redelivery:
    """The step for a channel whose latest record for the notice is `previous`.

    A `sending` mark is committed before the provider is called, the outcome after it: a mark
    with no outcome means the process stopped in between, and the provider may or may not have
    taken the notice. It is sent again, under the same identity (`delivery_key`): for email
    the same Message-ID, which mail systems and the recipient's client see as one message.
    """
    if previous is None:
        return Redelivery.send
    if previous.outcome in ("sent", "delivered"):
        return Redelivery.sent
    if previous.outcome == "sending":
        return Redelivery.resend
    return Redelivery.send
