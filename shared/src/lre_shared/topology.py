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
# The broker user that first published a dead-lettered or replayed message (its AMQP
# `user_id`, "" when it had none): believed only from a trusted publisher (`lre_shared.bus.acts_for`).
ORIGINAL_USER_HEADER = "x-lre-original-user-id"
# On the answer to a query that was dead-lettered: why, for the asker to raise at once.
QUERY_REFUSED_HEADER = "x-lre-query-refused"

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


# The sender systems' own two exchanges (see below). Commands have no alternate here either: a
# routing key no service binds (a command a sender may not send) comes back to the publisher.
SENDERS_COMMANDS_EXCHANGE = "lre.senders.commands"
SENDERS_EVENTS_EXCHANGE = "lre.senders.events"

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
    ExchangeSpec(SENDERS_COMMANDS_EXCHANGE, "topic"),
    ExchangeSpec(SENDERS_EVENTS_EXCHANGE, "topic", alternate=UNROUTED_EXCHANGE),
)


# Sender systems connect with their own broker user and reach only two exchanges of their own:
# they publish commands and queries to `lre.senders.commands` (a topic exchange bound to the
# services' command exchanges for what a sender may send, nothing else), and read what became
# of their letters from their own queue `lre.sender.<sender id>`, bound to
# `lre.senders.events` with `<sender id>.#`. Internal events stay out of their reach.
def sender_queue(sender_id: str) -> str:
    """The durable queue a sender system reads its letters' outcomes from."""
    return f"lre.sender.{sender_id}"


def sender_routing_key(sender_id: str, event: str) -> str:
    """`<sender id>.<event>` on `lre.senders.events` (a sender id is one routing-key word)."""
    return f"{sender_id}.{event}"


# What a sender system may send, by routing key, and the service that takes it: the only
# bindings of `lre.senders.commands` (anything else published there comes back unroutable).
SENDER_COMMANDS: dict[str, Service] = {
    "submit_letter.v1": Service.archive,
    "request_upload.v1": Service.archive,
    "get_letter_status.v1": Service.archive,
    "record_consent.v1": Service.archive,
    "withdraw_consent.v1": Service.archive,
    "list_evidence.v1": Service.signer,
    "list_proofs.v1": Service.signer,
    "issue_proof_link.v1": Service.signer,
}


def sender_commands_of(service: Service) -> tuple[str, ...]:
    """The routing keys of `lre.senders.commands` that `service` takes (and binds at start)."""
    return tuple(key for key, owner in SENDER_COMMANDS.items() if owner == service)
