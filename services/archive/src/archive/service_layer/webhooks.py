"""Webhooks: the events of `lre.senders.events`, delivered over HTTP to the sender systems that
registered an endpoint, signed with `lre_shared.webhooks`.

- Intake (`take_event`): the archive's own queue on `lre.senders.events`, bound `#`, writes
  one delivery row per event of a sender with an endpoint, in the transaction that records
  the message in the inbox: an event redelivered by the broker is one delivery.
- Dispatch (`dispatch_due`): due rows are claimed and their attempt counted in one short
  transaction (a replica that dies mid-call leaves its claim to expire, and the row is tried
  again: at least once), the POST runs outside any transaction, and its outcome is recorded
  in another. A 2xx ends a delivery; nothing is sent again after it.
- Retries follow `archive.domain.webhooks.RetrySchedule`, for at least a day (48 hours by
  default). Deliveries are concurrent and independently retried: a sender's events may
  arrive out of order, and `sequence` orders a letter's events.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol
from uuid import UUID, uuid4

from archive.domain.webhooks import RetrySchedule, UrlPolicy
from lre_shared import metrics, webhooks
from lre_shared.clock import Clock
from lre_shared.contracts import SenderEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    sender_id: str
    url: str
    secret: str = field(repr=False)
    previous_secret: str | None = field(default=None, repr=False)
    previous_until: datetime | None = None

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, and the one it replaced while its overlap lasts."""
        keep = (
            self.previous_secret is not None and self.previous_until is not None and now < self.previous_until
        )
        return [self.secret, self.previous_secret] if keep and self.previous_secret else [self.secret]


@dataclass(frozen=True)
class DueDelivery:
    """A delivery claimed for one attempt; `attempts` counts it already."""

    event_id: UUID
    event: str
    body: bytes
    created_at: datetime
    attempts: int
    endpoint: Endpoint


@dataclass(frozen=True)
class LoggedDelivery:
    event_id: UUID
    event: str
    letter_id: UUID
    created_at: datetime
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    """What one POST gave: the status (None when no answer came), or why it failed."""

    status: int | None
    error: str | None = None
    excerpt: str = ""  # the first bytes of the answer, never more
    seconds: float = 0.0

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookStore(Protocol):
    """The archive's webhook records, on one transaction."""

    async def endpoint(self, sender_id: str) -> Endpoint | None: ...

    async def seal_legacy(self) -> int:
        """Encrypt the secrets stored in plain text before they were encrypted, and raise
        if the key does not open the others: how many endpoints were sealed now."""
        ...

    async def save_endpoint(self, sender_id: str, url: str, secret: str, at: datetime) -> bool:
        """Register `url` with `secret`, or change the URL of an endpoint kept with its own
        secret: True when registered now."""
        ...

    async def rotate_secret(
        self, sender_id: str, secret: str, previous_until: datetime, at: datetime
    ) -> bool: ...

    async def remove_endpoint(self, sender_id: str, at: datetime) -> bool:
        """Remove the endpoint; its pending deliveries fail with that reason."""
        ...

    async def add_delivery(self, event: SenderEvent, body: bytes, at: datetime) -> bool: ...

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[DueDelivery]:
        """Due deliveries of senders with an endpoint, not claimed by another replica, each
        with its attempt counted and held for `lease` (then due again)."""
        ...

    async def record_delivered(self, sender_id: str, event_id: UUID, status: int, at: datetime) -> None: ...

    async def record_failure(
        self,
        sender_id: str,
        event_id: UUID,
        attempt: Attempt,
        next_attempt_at: datetime | None,
        at: datetime,
    ) -> None: ...

    async def oldest_pending(self) -> datetime | None: ...

    async def log(self, sender_id: str, limit: int) -> list[LoggedDelivery]: ...


WebhookUnits = Callable[[], AbstractAsyncContextManager[WebhookStore]]


class Poster(Protocol):
    """Sends one signed delivery; never raises for what the receiver or the network did."""

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Attempt: ...


class Resolver(Protocol):
    async def addresses(self, host: str, port: int) -> list[str]: ...


@dataclass(frozen=True)
class Dispatch:
    """How the dispatcher works: its schedule, how many deliveries a run takes at once, and
    how long a claim holds (longer than a call may take)."""

    schedule: RetrySchedule
    batch: int = 20
    lease: timedelta = timedelta(seconds=60)


async def take_event(event: SenderEvent, store: WebhookStore, *, clock: Clock) -> None:
    """An event of a sender's letter, taken from the bus: a delivery for its endpoint, if any."""
    if await store.endpoint(event.sender_id) is None:
        return
    await store.add_delivery(event, event.to_json(), clock())


async def seal_legacy_secrets(*, units: WebhookUnits) -> int:
    """At start: every endpoint's secret encrypted at rest, in one transaction (idempotent),
    and the key checked against those already encrypted (`WebhookSecretUnreadable` if it
    does not open them: the service does not start with a key that cannot sign)."""
    async with units() as store:
        sealed = await store.seal_legacy()
    if sealed:
        log.info("webhook secrets of %d endpoints were stored in plain text; now encrypted", sealed)
    return sealed


async def check_url(url: str, policy: UrlPolicy, resolver: Resolver) -> None:
    """Raise `UrlRefused` for a URL the archive must not call (form, then every address)."""
    host, port = policy.check_url(url)
    policy.check_addresses(host, await resolver.addresses(host, port))


async def set_endpoint(
    sender_id: str, url: str, *, units: WebhookUnits, policy: UrlPolicy, resolver: Resolver, clock: Clock
) -> str | None:
    """Register (or move) a sender's endpoint; the new secret, or None when the endpoint
    existed and keeps its secret."""
    await check_url(url, policy, resolver)
    secret = webhooks.new_secret()
    async with units() as store:
        registered = await store.save_endpoint(sender_id, url, secret, clock())
    return secret if registered else None


async def rotate_secret(
    sender_id: str, *, units: WebhookUnits, overlap: timedelta, clock: Clock
) -> str | None:
    """A new secret for the endpoint; the old one signs beside it for `overlap`. None: no endpoint."""
    secret = webhooks.new_secret()
    now = clock()
    async with units() as store:
        rotated = await store.rotate_secret(sender_id, secret, now + overlap, now)
    return secret if rotated else None


async def remove_endpoint(sender_id: str, *, units: WebhookUnits, clock: Clock) -> bool:
    async with units() as store:
        return await store.remove_endpoint(sender_id, clock())


async def delivery_log(sender_id: str, limit: int, *, units: WebhookUnits) -> list[LoggedDelivery]:
    async with units() as store:
        return await store.log(sender_id, limit)


async def ping(sender_id: str, *, units: WebhookUnits, poster: Poster, clock: Clock) -> Attempt | None:
    """One signed test delivery to the sender's endpoint, `{"type": "ping", …}` (not an event,
    not logged): what the receiver answered. None: no endpoint."""
    async with units() as store:
        endpoint = await store.endpoint(sender_id)
    if endpoint is None:
        return None
    now = clock()
    ping_id = str(uuid4())
    body = json.dumps(
        {"type": "ping", "message_id": ping_id, "sender_id": sender_id, "sent_at": now.isoformat()}
    ).encode()
    headers = webhooks.sign(endpoint.signing_secrets(now), ping_id, body, timestamp=int(now.timestamp()))
    return await poster.post(endpoint.url, headers, body)


async def dispatch_due(*, units: WebhookUnits, poster: Poster, dispatch: Dispatch, clock: Clock) -> int:
    """Send every delivery due now, a batch at a time; how many were attempted."""
    attempted = 0
    while True:
        async with units() as store:
            due = await store.claim_due(clock(), dispatch.batch, dispatch.lease)
        if not due:
            break
        outcomes = await asyncio.gather(
            *(_attempt(d, units=units, poster=poster, dispatch=dispatch, clock=clock) for d in due),
            return_exceptions=True,
        )
        for delivery, outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                # Its claim expires and it is tried again; the others' outcomes stand.
                log.error(
                    "webhook attempt not recorded",
                    exc_info=outcome,
                    extra={"sender_id": delivery.endpoint.sender_id, "message_id": str(delivery.event_id)},
                )
        attempted += len(due)
        if len(due) < dispatch.batch:
            break
    async with units() as store:
        oldest = await store.oldest_pending()
    metrics.webhook_oldest_pending((clock() - oldest).total_seconds() if oldest is not None else 0.0)
    return attempted


Outcome = Literal["delivered", "retried", "failed"]


async def _attempt(
    due: DueDelivery, *, units: WebhookUnits, poster: Poster, dispatch: Dispatch, clock: Clock
) -> Outcome:
    signed_at = clock()
    sender_id = due.endpoint.sender_id
    headers = webhooks.sign(
        due.endpoint.signing_secrets(signed_at),
        str(due.event_id),
        due.body,
        timestamp=int(signed_at.timestamp()),
    )
    attempt = await poster.post(due.endpoint.url, headers, due.body)
    now = clock()
    about = {"sender_id": sender_id, "message_id": str(due.event_id), "attempts": due.attempts}
    async with units() as store:
        if attempt.delivered:
            assert attempt.status is not None
            await store.record_delivered(sender_id, due.event_id, attempt.status, now)
            outcome: Outcome = "delivered"
        else:
            next_at = dispatch.schedule.next_attempt(due.created_at, due.attempts, now)
            await store.record_failure(sender_id, due.event_id, attempt, next_at, now)
            outcome = "retried" if next_at is not None else "failed"
    metrics.webhook_delivery(outcome)
    why = attempt.error or f"HTTP {attempt.status}"
    if outcome == "delivered":
        log.info("webhook delivered", extra=about)
    elif outcome == "retried":
        log.info("webhook attempt failed (%s); tried again later", why, extra=about)
    else:
        log.error("webhook failed for good after %d attempts: %s", due.attempts, why, extra=about)
    return outcome
