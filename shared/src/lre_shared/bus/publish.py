"""Sending on the bus: persistent, confirmed, mandatory publishing, and request/reply."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiormq import spec
from aiormq.exceptions import ChannelInvalidStateError, DeliveryError
from faststream.rabbit import RabbitBroker

from lre_shared import outbox, tracing
from lre_shared.contracts import Message

R = TypeVar("R", bound=Message)

_PERSISTENT = 2  # AMQP delivery mode: written to disk (quorum queues keep every message so)


class Publisher:
    """Persistent, confirmed, mandatory publishing through the broker's channel."""

    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker

    async def publish_outgoing(self, message: outbox.OutgoingMessage, *, user_id: str | None = None) -> None:
        # Straight onto the broker's default channel (confirms on, returns raise): FastStream's
        # publish stack (middlewares, an aio-pika message built and converted again) cost more
        # than the frames themselves, for each row the outbox relay sends. The same message
        # goes out: persistent, mandatory, awaited until the broker confirms it; a nack or a
        # return (unroutable) raises.
        channel = await self._broker.config.channel_manager.get_channel()
        if channel.is_closed:
            raise ChannelInvalidStateError(f"{channel!r} closed")
        underlay = await channel.get_underlay_channel()
        await underlay.basic_publish(
            message.body,
            exchange=message.exchange,
            routing_key=message.routing_key,
            properties=spec.Basic.Properties(
                delivery_mode=_PERSISTENT,
                content_type="application/json",
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                headers=message.headers,
                timestamp=datetime.now(UTC),
                app_id=self._broker.config.app_id,
                user_id=user_id,
            ),
            mandatory=True,
            timeout=30.0,
            # The confirm is awaited; the socket write is not (holding the channel's lock until
            # then would send the relay's batch one frame per turn of the event loop).
            wait=False,
        )

    async def publish(
        self,
        message: Message,
        headers: dict[str, Any] | None = None,
        *,
        exchange: str | None = None,
        user_id: str | None = None,
    ) -> None:
        """Publish directly: only for callers with no database (sender clients, replies).
        `exchange` in place of the message's own (a sender's `lre.senders.commands`); `user_id`
        the connection's broker user, which the broker checks and the consumer believes."""
        outgoing = outbox.outgoing(message, headers)
        if exchange is not None:
            outgoing = replace(outgoing, exchange=exchange)
        await self.publish_outgoing(outgoing, user_id=user_id)


async def ask(
    broker: RabbitBroker,
    query: Message,
    answer: type[R],
    *,
    timeout: float,
    exchange: str | None = None,
    user_id: str | None = None,
) -> R:
    """Request/reply: send `query` and wait up to `timeout` seconds for its `answer`
    (`exchange` and `user_id` as for `Publisher.publish`).

    Raises `TimeoutError` when no answer comes in time, and also when the broker returns the
    query because no queue takes it yet (the answering service has never started): for
    whoever waits, both mean "not now".
    """
    with tracing.client_span(query.routing_key, str(query.message_id), str(query.correlation_id)):
        try:
            response = await broker.request(
                query.to_json(),
                exchange=exchange or query.exchange,
                routing_key=query.routing_key,
                correlation_id=str(query.message_id),
                message_id=str(query.message_id),
                content_type="application/json",
                headers=tracing.inject(),
                user_id=user_id,
                timeout=timeout,
            )
        except DeliveryError as exc:
            raise TimeoutError(f"no service takes {query.routing_key} now") from exc
        return answer.model_validate_json(response.body)
