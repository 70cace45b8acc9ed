"""Prometheus metrics of a service process, served at `/metrics` by `lre_shared.runtime`.

One process runs one service, so the metrics live in the process's default registry and
carry the queue as a label (`<consumer>.<routing key>`); Prometheus adds the pod and the
service from its scrape target.

- `lre_messages_total{queue, outcome}`: deliveries consumed, by outcome: `handled`,
  `duplicate` (already in the inbox: acknowledged again, nothing done), `retried` (a
  transient failure: back in the queue after a back-off), `dead_lettered` (malformed or
  failed for good: moved to `<queue>.dlq`). Deliveries the broker dead-letters by itself
  at the delivery limit show as `retried` here and in the dead-letter queue's depth.
- `lre_handler_seconds{queue}`: time in the handler, per message, inside its transaction.
- `lre_dead_letter_messages{queue}`: messages waiting in `<queue>.dlq`, read from the broker
  at each scrape (those the broker dead-lettered at the delivery limit included).
- `lre_events_published_total{routing_key}`: messages the outbox relay published.
- `lre_notices_total{channel, outcome}`: notices and reminders `sent`, `delivered`
  (confirmed by the provider) or `failed`, and `lre_codes_total{channel, outcome}` for
  one-time codes; counted as the notifier's outbox publishes its NoticeSent,
  NoticeDelivered, NoticeFailed, CodeSent and CodeFailed events.
- `lre_pickup_funnel_total{step}`: recipients reaching each step of the pickup site
  (DESIGN §2): item number typed, identity passed, accepted, refused, receipt signed,
  downloaded; counted by the pickup service through `pickup_step`.
- `lre_http_requests{state}`: HTTP requests of the service's web application `working`
  now, or `waiting` their turn at its admission gate (`lre_shared.admission`).
- `lre_webhook_deliveries_total{outcome}`: webhook attempts of the archive, by outcome:
  `delivered` (answered 2xx), `retried` (failed, tried again later), `failed` (given up);
  `lre_webhook_oldest_pending_seconds`: age of the oldest delivery not yet delivered nor
  given up (0: none), read at each dispatcher run.
"""

from __future__ import annotations

import functools
import json
from typing import Literal, get_args

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

from lre_shared.contracts import CodeFailed, CodeSent, NoticeDelivered, NoticeFailed, NoticeSent

Outcome = Literal["handled", "duplicate", "retried", "dead_lettered"]
PickupStep = Literal["item_number", "identity", "accepted", "refused", "signed", "downloaded"]

MESSAGES = Counter("lre_messages", "Deliveries consumed, by queue and outcome.", ["queue", "outcome"])
HANDLER_SECONDS = Histogram(
    "lre_handler_seconds",
    "Time in the handler per message, inside its transaction.",
    ["queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

DEAD_LETTERS = Gauge("lre_dead_letter_messages", "Messages waiting in a dead-letter queue.", ["queue"])
PUBLISHED = Counter("lre_events_published", "Messages the outbox relay published.", ["routing_key"])
NOTICES = Counter("lre_notices", "Notices and reminders, by channel and outcome.", ["channel", "outcome"])
CODES = Counter("lre_codes", "One-time codes sent or failed, by channel.", ["channel", "outcome"])
HTTP_REQUESTS = Gauge("lre_http_requests", "Web requests working now or waiting their turn.", ["state"])
PICKUP_FUNNEL = Counter("lre_pickup_funnel", "Recipients reaching each step of the pickup site.", ["step"])
WEBHOOKS = Counter("lre_webhook_deliveries", "Webhook attempts, by outcome.", ["outcome"])
WEBHOOK_OLDEST = Gauge("lre_webhook_oldest_pending_seconds", "Age of the oldest pending webhook delivery.")
for _outcome in ("delivered", "retried", "failed"):
    WEBHOOKS.labels(outcome=_outcome)  # every outcome shows, at 0, before the first delivery
for _step in get_args(PickupStep):
    PICKUP_FUNNEL.labels(step=_step)  # every step shows, at 0, before its first recipient

# The notifier's outcome events, by routing key: (counter, outcome).
_NOTIFIER_OUTCOMES = {
    NoticeSent.routing_key: (NOTICES, "sent"),
    NoticeDelivered.routing_key: (NOTICES, "delivered"),
    NoticeFailed.routing_key: (NOTICES, "failed"),
    CodeSent.routing_key: (CODES, "sent"),
    CodeFailed.routing_key: (CODES, "failed"),
}


def count(queue: str, outcome: Outcome, n: int = 1) -> None:
    """`n` deliveries of `queue` had this outcome (a batch counts once)."""
    if n:
        _messages(queue, outcome).inc(n)


# A labelled child is looked up under a lock: once per queue, not once per message.
@functools.cache
def _messages(queue: str, outcome: Outcome) -> Counter:
    return MESSAGES.labels(queue=queue, outcome=outcome)


@functools.cache
def handler_seconds(queue: str) -> Histogram:
    """`lre_handler_seconds` of `queue`."""
    return HANDLER_SECONDS.labels(queue)


@functools.cache
def _published(routing_key: str) -> Counter:
    return PUBLISHED.labels(routing_key=routing_key)


def published(routing_key: str, body: bytes) -> None:
    """The outbox relay published a message; notices and codes count by channel too."""
    _published(routing_key).inc()
    counted = _NOTIFIER_OUTCOMES.get(routing_key)
    if counted is not None:
        counter, outcome = counted
        try:
            channel = str(json.loads(body).get("channel", "unknown"))
        except (ValueError, AttributeError):
            channel = "unknown"
        counter.labels(channel=channel, outcome=outcome).inc()


def pickup_step(step: PickupStep) -> None:
    """A recipient reached `step` of the pickup site."""
    PICKUP_FUNNEL.labels(step=step).inc()


def webhook_delivery(outcome: Literal["delivered", "retried", "failed"]) -> None:
    WEBHOOKS.labels(outcome=outcome).inc()


def webhook_oldest_pending(seconds: float) -> None:
    WEBHOOK_OLDEST.set(seconds)


def dead_letters(queue: str, waiting: int) -> None:
    DEAD_LETTERS.labels(queue=queue).set(waiting)


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric of the process, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
