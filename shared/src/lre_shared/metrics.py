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
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

Outcome = Literal["handled", "duplicate", "retried", "dead_lettered"]

MESSAGES = Counter("lre_messages", "Deliveries consumed, by queue and outcome.", ["queue", "outcome"])
HANDLER_SECONDS = Histogram(
    "lre_handler_seconds",
    "Time in the handler per message, inside its transaction.",
    ["queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def count(queue: str, outcome: Outcome) -> None:
    MESSAGES.labels(queue=queue, outcome=outcome).inc()


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric of the process, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
