"""What the bus is made of on the broker: the connection, exchanges and quorum queues.

Queues are durable quorum queues with a delivery limit and at-least-once dead-lettering to
`<queue>.dlq`; names come from `lre_shared.topology`.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit

from faststream.rabbit import Channel, ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from lre_shared.settings import ServiceSettings
from lre_shared.topology import EXCHANGES, Service, dead_letter_queue

BROKER_CONNECT_SECONDS = 10.0


def make_broker(settings: ServiceSettings, service: Service) -> RabbitBroker:
    return RabbitBroker(
        settings.amqp_url.get_secret_value(),
        # Confirms on, and a returned (unroutable) mandatory message raises.
        default_channel=Channel(
            prefetch_count=settings.prefetch, publisher_confirms=True, on_return_raises=True
        ),
        app_id=f"lre-{service}",
        # FastStream's access log ("Received"/"Processed", plain text on stdout) at DEBUG:
        # our own JSON logs say what matters.
        log_level=logging.DEBUG,
        graceful_timeout=30.0,
        # Connecting (and each reconnection) gives up after this long: a broker that takes
        # the TCP connection but never answers (out of file handles, say) is reported, not
        # waited for forever.
        timeout=BROKER_CONNECT_SECONDS,
    )


def broker_user(amqp_url: str) -> str:
    """The broker user an AMQP URL connects as (RabbitMQ's default, guest, when it names none):
    what a publisher puts in the AMQP `user_id` of its messages, which the broker checks."""
    return unquote(urlsplit(amqp_url).username or "") or "guest"


def exchange_for(name: str) -> RabbitExchange:
    spec = next((spec for spec in EXCHANGES if spec.name == name), None)
    if spec is None:
        raise ValueError(f"unknown exchange {name!r}")
    return RabbitExchange(
        name,
        type=ExchangeType(spec.kind),
        durable=True,
        arguments={"alternate-exchange": spec.alternate} if spec.alternate else None,
    )


def quorum_queue(name: str, routing_key: str, delivery_limit: int) -> RabbitQueue:
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=routing_key,
        arguments={
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dead_letter_queue(name),
            # at-least-once dead-lettering needs reject-publish overflow
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )


def dlq(name: str) -> RabbitQueue:
    return RabbitQueue(dead_letter_queue(name), queue_type=QueueType.QUORUM, durable=True)
