"""Sending on the bus: persistent, confirmed, mandatory publishing, and request/reply."""

from __future__ import annotations

from typing import Any, TypeVar

from aiormq.exceptions import DeliveryError
from faststream.rabbit import RabbitBroker

from lre_shared import outbox, tracing
from lre_shared.contracts import Message

R = TypeVar("R", bound=Message)


class Publisher:
    """Persistent, confirmed, mandatory publishing through the broker's channel."""

    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker

    async def publish_outgoing(self, message: outbox.OutgoingMessage) -> None:
        await self._broker.publish(
            message.body,
            exchange=message.exchange or None,
            routing_key=message.routing_key,
            persist=True,
            mandatory=True,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            headers=message.headers,
            content_type="application/json",
            timeout=30.0,
        )

    async def publish(self, message: Message, headers: dict[str, Any] | None = None) -> None:
        """Publish directly: only for callers with no database (sender clients, replies)."""
        await self.publish_outgoing(outbox.outgoing(message, headers))


async def ask(broker: RabbitBroker, query: Message, answer: type[R], *, timeout: float) -> R:
    """Request/reply: send `query` and wait up to `timeout` seconds for its `answer`.

    Raises `TimeoutError` when no answer comes in time, and also when the broker returns the
    query because no queue takes it yet (the answering service has never started): for
    whoever waits, both mean "not now".
    """
    with tracing.client_span(query.routing_key, str(query.message_id), str(query.correlation_id)):
        try:
            response = await broker.request(
                query.to_json(),
                exchange=query.exchange,
                routing_key=query.routing_key,
                correlation_id=str(query.message_id),
                message_id=str(query.message_id),
                content_type="application/json",
                headers=tracing.inject(),
                timeout=timeout,
            )
        except DeliveryError as exc:
            raise TimeoutError(f"no service takes {query.routing_key} now") from exc
        return answer.model_validate_json(response.body)
