"""Request/reply on RabbitMQ's direct reply-to, with one reply consumer per connection.

A person waiting on a page asks another service (a download link, a code check, a signed
acknowledgement's verdict) and waits for the answer. Every ask of a connection shares one
consumer on `amq.rabbitmq.reply-to`, each answer matched to its asker by correlation id, so
asks run side by side: a slow one (a signature check can take seconds) holds up no other.
FastStream's `RabbitBroker.request` consumes anew for each ask under one lock per broker,
so that a process's asks ran one at a time.

A query the asked service dead-letters (malformed, or one it can never handle) is answered
with the reason (`QUERY_REFUSED_HEADER`): its asker raises `QueryRefused` at once rather than
waiting out its timeout.

An answer that comes after its asker stopped waiting (its timeout) matches nobody: it is
expected after a timeout, and dropped with a line at INFO.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from faststream.rabbit import RabbitBroker

from lre_shared.topology import QUERY_REFUSED_HEADER

log = logging.getLogger("lre_shared.bus")

REPLY_QUEUE = "amq.rabbitmq.reply-to"  # RabbitMQ's pseudo-queue: replies straight to the asker's channel


class QueryRefused(Exception):
    """The asked service refused the query as it stands, and dead-lettered it: asked again
    the same, it would be refused again. The message says why (which field, what is wrong)."""


class Replies:
    """The asks of one broker connection and their answers (see the module's docstring)."""

    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker
        self._waiting: dict[str, list[asyncio.Future[bytes]]] = {}
        self._consuming: AbstractChannel | None = None
        self._lock = asyncio.Lock()

    async def ask(
        self, message: aio_pika.Message, *, exchange: str, routing_key: str, timeout: float
    ) -> bytes:
        """Publish `message` (mandatory, confirmed) with this connection's reply address and
        wait up to `timeout` seconds for its answer's body. Raises `TimeoutError`, `QueryRefused`,
        and aio-pika's `DeliveryError` when the broker returns the message (no queue takes it)."""
        key = message.correlation_id or ""
        answered: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        # The same query asked twice at once (a page reloaded) waits for the one answer.
        self._waiting.setdefault(key, []).append(answered)
        try:
            async with asyncio.timeout(timeout):
                channel = await self._channel()
                message.reply_to = REPLY_QUEUE
                target = await channel.get_exchange(exchange, ensure=False)
                await target.publish(message, routing_key=routing_key, mandatory=True)
                return await answered
        finally:
            self._forget(key, answered)

    async def _channel(self) -> AbstractChannel:
        """The broker's channel, with the reply consumer on it: direct reply-to needs the
        asks published on the channel that consumes their answers. A new channel (the
        broker reconnected) gets its own consumer; aio-pika restores it on a robust one."""
        channel: AbstractChannel = await self._broker.config.channel_manager.get_channel()
        async with self._lock:
            if self._consuming is not channel:
                queue = await channel.declare_queue(REPLY_QUEUE, passive=True)
                await queue.consume(self._answer, no_ack=True)
                self._consuming = channel
        return channel

    async def _answer(self, reply: AbstractIncomingMessage) -> None:
        askers = self._waiting.pop(reply.correlation_id or "", [])
        waiting = [asker for asker in askers if not asker.done()]
        if not waiting:
            log.info(
                "a reply came after its asker stopped waiting: dropped",
                extra={"message_id": reply.correlation_id},
            )
        refused = (reply.headers or {}).get(QUERY_REFUSED_HEADER)
        for asker in waiting:
            if refused is not None:
                asker.set_exception(QueryRefused(str(refused)))
            else:
                asker.set_result(reply.body)

    def _forget(self, key: str, asker: asyncio.Future[bytes]) -> None:
        askers = self._waiting.get(key)
        if askers is None:
            return
        if asker in askers:
            askers.remove(asker)
        if not askers:
            del self._waiting[key]


_REPLIES: weakref.WeakKeyDictionary[RabbitBroker, Replies] = weakref.WeakKeyDictionary()


def replies(broker: RabbitBroker) -> Replies:
    """The one `Replies` of `broker`'s connection."""
    if broker not in _REPLIES:
        _REPLIES[broker] = Replies(broker)
    return _REPLIES[broker]
