"""Every exchange, routing key and queue name of the bus, in one place.

- Each service publishes its events to a durable topic exchange `lre.<service>.events`
  and receives commands on a durable direct exchange `lre.<service>.commands`.
- Routing key = message name + major version (`letter.deposited.v1`), carried by the
  message class itself (`lre_shared.contracts`).
- Each consumer has its own quorum queue per binding, `<consumer>.<routing key>`, and a
  dead-letter queue `<queue>.dlq` beside it.

No service types a queue or exchange name by hand: it asks this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lre_shared.contracts.base import Message


class Service(StrEnum):
    archive = "archive"
    notifier = "notifier"
    pickup = "pickup"
    signer = "signer"
    verification = "verification"


def events_exchange(service: Service) -> str:
    return f"lre.{service}.events"


def commands_exchange(service: Service) -> str:
    return f"lre.{service}.commands"


def queue_name(consumer: Service | str, message_type: type[Message]) -> str:
    return f"{consumer}.{message_type.routing_key}"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dlq"


# Headers we set on a dead-lettered message, beside RabbitMQ's own `x-death`.
DLQ_REASON_HEADER = "x-lre-dead-letter-reason"
DLQ_QUEUE_HEADER = "x-lre-original-queue"
DLQ_EXCHANGE_HEADER = "x-lre-original-exchange"
DLQ_ROUTING_KEY_HEADER = "x-lre-original-routing-key"

# Quorum queues count deliveries; after this many the broker dead-letters by itself.
DEFAULT_DELIVERY_LIMIT = 5


# Events nobody subscribes to (yet) are not an error, but they are never dropped in
# silence either: every events exchange hands them to this alternate exchange, whose
# queue keeps them for a week for operators to inspect. Commands have no alternate:
# a command that reaches no queue comes back to its publisher, which fails loudly.
UNROUTED_EXCHANGE = "lre.unrouted"
UNROUTED_QUEUE = "lre.unrouted"
UNROUTED_TTL_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    kind: str  # "topic", "direct" or "fanout"
    alternate: str | None = None


EXCHANGES: tuple[ExchangeSpec, ...] = (
    ExchangeSpec(UNROUTED_EXCHANGE, "fanout"),
    *(
        spec
        for service in Service
        for spec in (
            ExchangeSpec(events_exchange(service), "topic", alternate=UNROUTED_EXCHANGE),
            ExchangeSpec(commands_exchange(service), "direct"),
        )
    ),
)
