"""Talking to RabbitMQ as the integration tests do: publishing as the other services would,
watching an exchange from a queue of the test's own, reading a queue, and running a
service in-process on a bus emptied of what earlier tests left."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

from lre_shared.bus import broker_user, exchange_for
from lre_shared.contracts import EvidenceRecorded, Message
from lre_shared.runtime import ServiceRuntime


async def eventually(
    check: Callable[[], bool] | Callable[[], Awaitable[bool]], timeout: float = 20.0
) -> None:
    """Wait until `check` (a plain or an async predicate) holds; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await _holds(check):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def _holds(check: Callable[[], bool] | Callable[[], Awaitable[bool]]) -> bool:
    result = check()
    if isinstance(result, Awaitable):
        return await result
    return result


def _persistent(body: bytes, message_id: str, correlation_id: str | None, user: str) -> aio_pika.Message:
    # With the connection's broker user as AMQP `user_id`, as the platform's tools publish: the
    # broker checks it, and the services trust the platform's own user to act for any sender.
    return aio_pika.Message(
        body,
        message_id=message_id,
        correlation_id=correlation_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        user_id=user,
    )


async def publish(amqp_url: str, *messages: Message) -> None:
    """Publish as the other services would (persistent, mandatory, confirmed), all on one
    channel, as fast as confirms allow."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchanges: dict[str, AbstractExchange] = {}
        sends = []
        for message in messages:
            if message.exchange not in exchanges:
                exchanges[message.exchange] = await channel.get_exchange(message.exchange, ensure=False)
            sends.append(
                exchanges[message.exchange].publish(
                    _persistent(
                        message.to_json(),
                        str(message.message_id),
                        str(message.correlation_id),
                        broker_user(amqp_url),
                    ),
                    routing_key=message.routing_key,
                    mandatory=True,
                )
            )
        await asyncio.gather(*sends)


async def publish_raw(
    amqp_url: str,
    exchange: str,
    routing_key: str,
    body: bytes,
    message_id: str,
    correlation_id: str | None = None,
) -> None:
    """Publish any bytes (persistent, mandatory, confirmed), e.g. what no model would write."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False)
        await target.publish(
            _persistent(body, message_id, correlation_id, broker_user(amqp_url)),
            routing_key=routing_key,
            mandatory=True,
        )


async def purge_queues(amqp_url: str, runtime: ServiceRuntime) -> None:
    """Empty the service's queues left in the session's virtual host by earlier tests."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for sub in runtime.bus.subscriptions:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(sub.queue, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue
            await queue.purge()
            await channel.close()


@asynccontextmanager
async def running(runtime: ServiceRuntime, amqp_url: str) -> AsyncIterator[ServiceRuntime]:
    """The service started in-process on queues emptied first; stopped on leaving."""
    await runtime.startup()
    try:
        await purge_queues(amqp_url, runtime)
        await runtime.bus.broker.start()
        try:
            yield runtime
        finally:
            await runtime.bus.broker.stop()
    finally:
        await runtime.after_shutdown()


async def declare_exchange(channel: AbstractChannel, name: str) -> AbstractExchange:
    """An exchange of the platform, declared exactly as the bus declares it: aio-pika
    refuses a declaration whose type, durability or arguments differ."""
    spec = exchange_for(name)
    return await channel.declare_exchange(
        spec.name,
        aio_pika.ExchangeType(spec.type.value),
        durable=spec.durable,
        arguments=spec.arguments,
    )


@dataclass
class Probe:
    """A queue of the test's own, bound before anything is published, keeping what arrives."""

    received: list[AbstractIncomingMessage] = field(default_factory=list)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self.received.append(message)

    def of(self, routing_key: str, letter_id: uuid.UUID) -> list[AbstractIncomingMessage]:
        return [
            m for m in self.received if m.routing_key == routing_key and m.correlation_id == str(letter_id)
        ]

    def about(self, letter_id: uuid.UUID) -> list[AbstractIncomingMessage]:
        return [m for m in self.received if m.correlation_id == str(letter_id)]

    def evidence_of(self, letter_id: uuid.UUID) -> list[EvidenceRecorded]:
        return [
            EvidenceRecorded.model_validate_json(m.body)
            for m in self.of(EvidenceRecorded.routing_key, letter_id)
        ]

    async def wait_for(
        self, routing_key: str, letter_id: uuid.UUID, timeout: float = 20.0
    ) -> AbstractIncomingMessage:
        await eventually(lambda: bool(self.of(routing_key, letter_id)), timeout)
        return self.of(routing_key, letter_id)[0]


@asynccontextmanager
async def open_probe(amqp_url: str, *bindings: tuple[str, str]) -> AsyncIterator[Probe]:
    """A Probe whose queue is bound to each (exchange, routing key) given."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for exchange, routing_key in bindings:
            await queue.bind(await declare_exchange(channel, exchange), routing_key=routing_key)
        found = Probe()
        await queue.consume(found._on_message, no_ack=True)
        yield found
    finally:
        await connection.close()


async def get_one(amqp_url: str, queue: str, timeout: float = 20.0) -> AbstractIncomingMessage:
    """The next message on `queue`, taken off it; fail if none arrives within `timeout`."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        q = await channel.get_queue(queue, ensure=True)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            message = await q.get(no_ack=True, fail=False)
            if message is not None:
                return message
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"nothing arrived on {queue}")
            await asyncio.sleep(0.1)


async def queue_depth(amqp_url: str, queue: str) -> int:
    """How many messages wait on `queue`."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count
        return int(count or 0)
