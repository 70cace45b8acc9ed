"""Sending on the bus: persistent, confirmed, mandatory publishing, and request/reply."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
import aiormq
from aiormq import spec
from aiormq.abc import ChannelFrame
from aiormq.exceptions import ChannelInvalidStateError, DeliveryError
from faststream.rabbit import RabbitBroker
from pamqp.header import ContentHeader

from lre_shared import outbox, tracing
from lre_shared.bus.replies import replies
from lre_shared.contracts import Message

R = TypeVar("R", bound=Message)

_PERSISTENT = 2  # AMQP delivery mode: written to disk (quorum queues keep every message so)
CONFIRM_SECONDS = 30.0  # how long a publish waits for the broker's confirm before it counts as failed


class Publisher:
    """Persistent, confirmed, mandatory publishing through the broker's channel."""

    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker

    async def _underlay(self) -> aiormq.Channel:
        """The broker's default channel, as aiormq's: confirms on, returns raise."""
        channel = await self._broker.config.channel_manager.get_channel()
        if channel.is_closed:
            raise ChannelInvalidStateError(f"{channel!r} closed")
        underlay = await channel.get_underlay_channel()
        if not isinstance(underlay, aiormq.Channel) or not underlay.publisher_confirms:
            raise ChannelInvalidStateError(f"{underlay!r} does not confirm publishes")
        return underlay

    def _properties(
        self, message: outbox.OutgoingMessage, timestamp: datetime, user_id: str | None = None
    ) -> spec.Basic.Properties:
        return spec.Basic.Properties(
            delivery_mode=_PERSISTENT,
            content_type="application/json",
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            headers=message.headers,
            timestamp=timestamp,
            app_id=self._broker.config.app_id,
            user_id=user_id,
        )

    async def publish_outgoing(self, message: outbox.OutgoingMessage, *, user_id: str | None = None) -> None:
        # Straight onto the broker's default channel (confirms on, returns raise): FastStream's
        # publish stack (middlewares, an aio-pika message built and converted again) cost more
        # than the frames themselves. The same message goes out: persistent, mandatory,
        # awaited until the broker confirms it; a nack or a return (unroutable) raises.
        underlay = await self._underlay()
        await underlay.basic_publish(
            message.body,
            exchange=message.exchange,
            routing_key=message.routing_key,
            properties=self._properties(message, datetime.now(UTC), user_id),
            mandatory=True,
            timeout=CONFIRM_SECONDS,
            # The confirm is awaited; the socket write is not (holding the channel's lock until
            # then would send concurrent publishes one frame per turn of the event loop).
            wait=False,
        )

    async def publish_batch(self, messages: Sequence[outbox.OutgoingMessage]) -> list[BaseException | None]:
        """Publish `messages` in their order, each persistent, mandatory and confirmed, and
        say of each whether it failed (its exception) or the broker confirmed it (None).

        The messages go out in one write on the broker's confirming channel, not in one
        socket write (and one pass through aiormq's publish machinery) each: the outbox relay
        sends its rows so. Each keeps its own delivery tag and confirm: a return (no queue
        takes it), a nack, a closed channel or no confirm in time fails that message only,
        as `publish_outgoing` would.
        """
        if not messages:
            return []
        underlay = await self._underlay()
        timestamp = datetime.now(UTC)
        confirmations = await _publish_together(
            underlay, [(message, self._properties(message, timestamp)) for message in messages]
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CONFIRM_SECONDS):
                await asyncio.wait(confirmations)
        results: list[BaseException | None] = []
        for confirmation in confirmations:
            if not confirmation.done():
                confirmation.cancel()  # aiormq ignores a confirm that comes after this
                results.append(TimeoutError(f"no confirm from the broker within {CONFIRM_SECONDS:.0f} s"))
            elif confirmation.cancelled():
                results.append(ChannelInvalidStateError(f"{underlay!r}: publish cancelled"))
            else:
                results.append(confirmation.exception())
        return results

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
        message = aio_pika.Message(
            query.to_json(),
            correlation_id=str(query.message_id),
            message_id=str(query.message_id),
            content_type="application/json",
            headers=tracing.inject(),
            user_id=user_id,
        )  # inside the span: its trace context is what the headers carry
        try:
            body = await replies(broker).ask(
                message, exchange=exchange or query.exchange, routing_key=query.routing_key, timeout=timeout
            )
        except DeliveryError as exc:
            raise TimeoutError(f"no service takes {query.routing_key} now") from exc
        return answer.model_validate_json(body)


async def _publish_together(
    channel: aiormq.Channel, messages: Sequence[tuple[outbox.OutgoingMessage, spec.Basic.Properties]]
) -> list[asyncio.Future[Any]]:
    """Put the frames of `messages` (mandatory publishes) on `channel`'s connection in one
    write, and return the future of each one's confirm, in order.

    The bookkeeping is aiormq's own `Channel.basic_publish` (aiormq 7.2), done once for the
    lot under the channel's lock: consecutive delivery tags, one confirm future each
    (rejected if the channel closes), the message id that a `basic.return` is matched by.
    """
    confirmations: list[asyncio.Future[Any]] = []
    frames: list[Any] = []
    async with channel.lock:
        first_tag = channel.delivery_tag + 1
        try:
            for message, properties in messages:
                channel.delivery_tag += 1
                tag = channel.delivery_tag
                confirmation = channel.create_future()
                channel.confirmations[tag] = confirmation
                channel.message_id_delivery_tag[message.message_id] = tag
                confirmation.add_done_callback(_forget_message_id(channel, message.message_id, tag))
                confirmations.append(confirmation)
                frames.append(
                    spec.Basic.Publish(
                        exchange=message.exchange, routing_key=message.routing_key, mandatory=True
                    )
                )
                frames.append(ContentHeader(properties=properties, body_size=len(message.body)))
                frames.extend(channel._split_body(message.body))
            await channel.write_queue.put(ChannelFrame.marshall(channel_number=channel.number, frames=frames))
        except BaseException:
            # Nothing reached the broker: give the delivery tags back, as aiormq does.
            channel.delivery_tag = first_tag - 1
            for tag in range(first_tag, first_tag + len(confirmations)):
                channel.confirmations.pop(tag, None)
            for confirmation in confirmations:
                confirmation.cancel()
            raise
    return confirmations


def _forget_message_id(channel: aiormq.Channel, message_id: str, tag: int) -> Callable[[Any], None]:
    def forget(_: Any) -> None:
        if channel.message_id_delivery_tag.get(message_id) == tag:
            channel.message_id_delivery_tag.pop(message_id)

    return forget
