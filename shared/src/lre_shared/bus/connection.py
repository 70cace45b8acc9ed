"""One service's connection to the bus: its broker, outbox relay and subscriptions."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

import asyncpg
from aio_pika import IncomingMessage
from faststream import AckPolicy
from faststream.rabbit import QueueType, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.subscriber.usecase import RabbitSubscriber

from lre_shared import metrics, outbox
from lre_shared.bus import publish
from lre_shared.bus.acks import Settlements
from lre_shared.bus.consume import Consumer, ConsumerStats, Handler, Refusal, Subscription
from lre_shared.bus.declare import broker_user, dlq, exchange_for, make_broker, quorum_queue
from lre_shared.bus.probe import broker_problem
from lre_shared.bus.publish import Publisher
from lre_shared.contracts import Message
from lre_shared.settings import ServiceSettings
from lre_shared.topology import (
    EXCHANGES,
    SENDERS_COMMANDS_EXCHANGE,
    UNROUTED_EXCHANGE,
    UNROUTED_QUEUE,
    UNROUTED_TTL_MS,
    Service,
    commands_exchange,
    sender_commands_of,
)

log = logging.getLogger("lre_shared.bus")

M = TypeVar("M", bound=Message)
R = TypeVar("R", bound=Message)

PROBE_SECONDS = 2.0  # each step of finding out why the broker cannot be reached


class BrokerUnavailable(RuntimeError):
    """The broker cannot be connected to; the message says why."""


class Bus:
    """One service's connection to the bus: its broker, outbox relay and subscriptions."""

    def __init__(self, settings: ServiceSettings, service: Service, consumer: str | None = None) -> None:
        self.settings = settings
        self.service = service
        # Queues are named after the consumer: the service, unless told otherwise (tests, benchmarks).
        self.consumer = consumer or str(service)
        self.broker = make_broker(settings, service)
        self.user = broker_user(settings.amqp_url.get_secret_value())
        self.publisher = Publisher(self.broker)
        self.subscriptions: list[Subscription[Any]] = []
        self._pool: asyncpg.Pool | None = None
        self.relay: outbox.OutboxRelay | None = None
        self._consuming = Consumer(settings, self.broker, lambda: self.pool)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the bus is not started")
        return self._pool

    @property
    def stats(self) -> ConsumerStats:
        return self._consuming.stats

    def subscribe(
        self,
        message_type: type[M],
        handler: Handler[M],
        *,
        idempotent: bool = True,
        refuse: Refusal | None = None,
        binding: str | None = None,
    ) -> None:
        """Consume `message_type` on this service's own quorum queue.

        `idempotent=False` is for queries answered by request/reply: they change nothing,
        so they skip the inbox. `refuse` answers messages that do not parse (a sender's
        command, say, told why it is refused) rather than only dead-lettering them.
        `binding` binds the queue with another key than the message's routing key (`#` on
        `lre.senders.events`, whose keys name the sender).
        """
        sub = Subscription(self.consumer, message_type, handler, idempotent, refuse)
        self.subscriptions.append(sub)
        queue = quorum_queue(sub.queue, binding or message_type.routing_key, self.settings.delivery_limit)

        async def on_message(message: Any) -> None:
            await self._consuming.consume(sub, cast(RabbitMessage, message))

        subscriber = self.broker.subscriber(
            queue,
            exchange_for(message_type.exchange),
            ack_policy=AckPolicy.MANUAL,
            # Replies are ours (sent after the commit); FastStream's own would answer the
            # asker a second time, empty, to a reply queue often gone by then.
            no_reply=True,
            # The handler gets FastStream's message itself, body undecoded: we parse it with
            # the contract's model (and dead-letter what does not parse), so FastStream's JSON
            # decoding and its synchronous context lookup (a thread hop) would be wasted.
            decoder=_undecoded,
            title=sub.queue,
            description=message_type.__doc__,
        )
        subscriber(on_message)
        # FastStream keeps the queue (declared and bound at start, described in the AsyncAPI
        # document, waited for at a graceful stop), but its deliveries skip its per-message
        # machinery (middlewares, context scopes, dependency injection), which cost more than
        # the rest of the consume path: `start` consumes with `subscriber.consume`.
        direct = _direct(
            subscriber, functools.partial(self._consuming.consume, sub), self._consuming.settlements
        )
        subscriber.consume = direct  # type: ignore[method-assign,assignment]

    async def ask(self, query: Message, answer: type[R], *, timeout: float) -> R:
        """Request/reply, for a person waiting on a page for another service (a download
        link, a code check): see `lre_shared.bus.publish.ask`."""
        # As this service's own broker user (checked by the broker), like everything it asks.
        return await publish.ask(self.broker, query, answer, timeout=timeout, user_id=self.user)

    async def declare(self) -> None:
        """Declare exchanges and dead-letter queues; call after connect, before start."""
        for spec in EXCHANGES:
            await self.broker.declare_exchange(exchange_for(spec.name))
        # What sender systems may send reaches this service's command exchange from theirs,
        # key by key: anything else they publish there comes back unroutable.
        own_commands = await self.broker.declare_exchange(exchange_for(commands_exchange(self.service)))
        for key in sender_commands_of(self.service):
            await own_commands.bind(SENDERS_COMMANDS_EXCHANGE, routing_key=key)
        unrouted = await self.broker.declare_queue(
            RabbitQueue(
                UNROUTED_QUEUE,
                queue_type=QueueType.QUORUM,
                durable=True,
                arguments={"x-message-ttl": UNROUTED_TTL_MS},
            )
        )
        await unrouted.bind(UNROUTED_EXCHANGE)
        for sub in self.subscriptions:
            await self.broker.declare_queue(dlq(sub.queue))

    async def prepare(self, pool: asyncpg.Pool) -> None:
        """Connect, declare exchanges and dead-letter queues, start the outbox relay.

        Runs before the broker starts its subscribers, so a dead-letter queue always
        exists before its queue can dead-letter anything.
        """
        self._pool = pool
        try:
            await self.broker.connect()
        except Exception as exc:
            # Say why (refused, silent: out of file descriptors...), not only that it failed.
            reason = await broker_problem(self.settings.amqp_url.get_secret_value(), PROBE_SECONDS)
            raise BrokerUnavailable(f"cannot connect to the broker: {reason or repr(exc)}") from exc
        await self.declare()
        self.relay = outbox.OutboxRelay(
            pool,
            self.publisher.publish_batch,
            batch=self.settings.outbox_batch,
            poll_seconds=self.settings.outbox_poll_seconds,
        )
        await self.relay.start()

    async def broker_problem(self, timeout: float = PROBE_SECONDS) -> str | None:
        """Why this service is not connected to the broker now (None: it is): what a new
        connection meets (refused, no answer...), found within about `timeout` seconds."""
        if await self.broker.ping(timeout=min(timeout, 0.5)):
            return None
        reason = await broker_problem(self.settings.amqp_url.get_secret_value(), timeout)
        return f"broker: {reason or 'it answers again; reconnecting'}"

    async def close(self) -> None:
        """After the broker stopped consuming: stop the batchers and the relay."""
        await self._consuming.stop()
        if self.relay is not None:
            await self.relay.stop()
            self.relay = None

    async def start(self, pool: asyncpg.Pool) -> None:
        """Everything at once, for code that runs the bus without a FastStream app."""
        await self.prepare(pool)
        await self.broker.start()

    async def stop(self) -> None:
        # Stop consuming first and let in-flight handlers finish, then stop the relay.
        await self.stop_consuming()
        await self.broker.stop()
        await self.close()

    async def stop_consuming(self) -> None:
        """Cancel every consumer: the broker delivers nothing more to this process (it goes
        to the other replicas, or waits), while what it had delivered is still handled,
        committed and acknowledged; FastStream's own stop then waits for those.

        FastStream stops the other way round (waits for in-flight messages, then cancels),
        so a stopping replica would keep receiving messages it no longer handles.
        """
        cancelled = []
        for subscriber in self.broker.subscribers:
            if not isinstance(subscriber, RabbitSubscriber):
                continue
            queue, tag = subscriber._queue_obj, subscriber._consumer_tag
            if queue is None or tag is None or queue.channel.is_closed:
                continue
            await queue.cancel(tag)
            subscriber._consumer_tag = None  # cancelled: FastStream's stop must not cancel it again
            cancelled.append(queue.name)
        log.info("stopped consuming; finishing the messages in flight", extra={"queues": cancelled})

    async def refresh_dead_letter_depths(self) -> None:
        """Read how many messages wait in each dead-letter queue into the metrics."""
        for sub in self.subscriptions:
            queue = await self.broker.declare_queue(dlq(sub.queue))
            declared = await queue.declare(timeout=2.0)  # declared before: only reads the depth
            metrics.dead_letters(sub.queue, int(declared.message_count or 0))


async def _undecoded(message: RabbitMessage) -> RabbitMessage:
    return message


def _direct(
    subscriber: RabbitSubscriber,
    consume: Callable[[RabbitMessage], Awaitable[None]],
    settlements: Settlements,
) -> Callable[[IncomingMessage], Coroutine[Any, Any, None]]:
    """A delivery from aio-pika straight to the consumer, as FastStream's message (what the
    consume path reads), inside the subscriber's lock that FastStream's stop waits on."""

    async def take(raw: IncomingMessage) -> None:
        # First, before anything can wait: deliveries are recorded in the order they came,
        # which a batch's single ack relies on (`Settlements`).
        settlements.received(raw)
        if not subscriber.running:
            return  # stopping: left unacknowledged, the broker hands it on (FastStream does so too)
        with subscriber.lock:
            message = RabbitMessage(
                raw_message=raw,
                body=raw.body,
                headers=raw.headers,
                reply_to=raw.reply_to or "",
                content_type=raw.content_type,
                message_id=raw.message_id,
                correlation_id=raw.correlation_id,
            )
            try:
                await consume(message)
            except Exception:
                # Not settled: the broker redelivers it once this channel closes.
                log.exception(
                    "consuming failed", extra={"queue": subscriber.queue.name, "message_id": raw.message_id}
                )

    return take
