"""Reliable messaging on RabbitMQ, on top of FastStream.

FastStream's defaults are unsafe for legal evidence, so every service goes through here:

- queues are durable **quorum** queues with a delivery limit and at-least-once
  dead-lettering to `<queue>.dlq` (declared before anything consumes);
- publishing is persistent, with publisher confirms and `mandatory`: an unroutable
  message raises instead of vanishing;
- a consumer records the `message_id` in its **inbox** in the same transaction as the
  effect, publishes through the **outbox** in that transaction too, and acks only after
  the commit;
- a message that cannot be parsed, or fails for good (`PermanentError`), is moved to the
  dead-letter queue at once with the reason in its headers, unless its subscriber answers
  it itself (`refuse`: the archive tells a sender why its deposit does not parse); any
  other failure is transient: the message is returned after a back-off and the broker's
  delivery limit bounds the retries.

Each delivery is handled inside an OpenTelemetry CONSUMER span that continues the trace
its publisher put in the headers (`lre_shared.tracing`); what the handler publishes, and
the log lines it writes, carry that trace on.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast
from uuid import UUID, uuid5

import asyncpg
from aiormq.exceptions import DeliveryError
from faststream import AckPolicy
from faststream.rabbit import (
    Channel,
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
)
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.subscriber.usecase import RabbitSubscriber
from opentelemetry import trace
from opentelemetry.trace import Span
from pydantic import ValidationError

from lre_shared import metrics, outbox, tracing
from lre_shared.logs import letter_id_var, message_id_var
from lre_shared.messages import Message
from lre_shared.settings import ServiceSettings
from lre_shared.topology import (
    DLQ_EXCHANGE_HEADER,
    DLQ_QUEUE_HEADER,
    DLQ_REASON_HEADER,
    DLQ_ROUTING_KEY_HEADER,
    EXCHANGES,
    UNROUTED_EXCHANGE,
    UNROUTED_QUEUE,
    UNROUTED_TTL_MS,
    Service,
    dead_letter_queue,
    queue_name,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
R = TypeVar("R", bound=Message)


class PermanentError(Exception):
    """The message can never succeed as it is: dead-letter it now, with this reason."""


def permanent_reason(exc: BaseException) -> str | None:
    """Why `exc` can never go away by retrying, or None when it may (a lost connection, a
    deadlock, a store that is down): a retry of such a message would only reach the delivery
    limit and be dead-lettered as "delivery_limit", its real cause lost."""
    if isinstance(exc, PermanentError):
        return str(exc)
    if isinstance(exc, asyncpg.DataError):
        # SQLSTATE class 22: the value itself (a NUL in text, a number out of range).
        return f"the database cannot hold this message's data: {type(exc).__name__}: {exc}"
    if isinstance(exc, RecursionError | UnicodeError):
        return f"the message cannot be handled: {type(exc).__name__}: {exc}"
    return None


class _NotRefused(Exception):
    """A subscriber's `refuse` could not answer a malformed message."""


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
    )


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


@dataclass
class Transaction:
    """What a handler gets: the open database transaction, and the outbox inside it."""

    conn: asyncpg.Connection

    async def publish(self, message: Message) -> None:
        await outbox.enqueue(self.conn, message)


Handler = Callable[[M, Transaction], Awaitable[Message | None]]


@dataclass(frozen=True)
class Fault:
    """One reason a message is refused: where in it (`sender.name`, `attachments[0]`), and why."""

    field: str
    reason: str


# Answers a message that cannot be taken as it is (it does not parse, or reuses the id of
# another message), inside the transaction that also records it in the inbox: True when it
# did (the message is then acked), False to dead-letter it with the reason.
Refusal = Callable[[bytes, tuple[Fault, ...], Transaction], Awaitable[bool]]

# The inbox key under which a message reusing another message's id is recorded once refused,
# so that its redeliveries are not refused again.
_REUSED_ID = UUID("5b0c3f0e-6d0a-4a53-8f6e-2b1d3c4e5f60")


@dataclass
class Subscription(Generic[M]):
    consumer: str
    message_type: type[M]
    handler: Handler[M]
    idempotent: bool = True
    refuse: Refusal | None = None

    @property
    def queue(self) -> str:
        return queue_name(self.consumer, self.message_type)


@dataclass
class ConsumerStats:
    handled: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retried: int = 0


@dataclass(frozen=True)
class Delivery:
    message: RabbitMessage
    parsed: Message
    span: Span = trace.INVALID_SPAN  # the delivery's CONSUMER span, current while it is handled


class Batcher:
    """Groups the deliveries of one queue that are waiting at the same moment, so that
    they share one transaction (one inbox insert, one commit) instead of one each.

    Nothing waits to fill a batch: a worker takes what is there, up to `limit`. Each
    delivery's task waits until its batch is committed and acknowledged, so FastStream's
    graceful shutdown still waits for it.
    """

    def __init__(
        self, process: Callable[[list[Delivery]], Awaitable[None]], *, limit: int, workers: int
    ) -> None:
        self._process = process
        self._limit = limit
        self._workers = workers
        self._waiting: asyncio.Queue[tuple[Delivery, asyncio.Future[None]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def submit(self, delivery: Delivery) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._waiting.put((delivery, done))
        await done

    async def _work(self) -> None:
        while True:
            batch = [await self._waiting.get()]
            while len(batch) < self._limit and not self._waiting.empty():
                batch.append(self._waiting.get_nowait())
            try:
                await self._process([delivery for delivery, _ in batch])
            except asyncio.CancelledError:
                for _, done in batch:
                    done.cancel()
                raise
            except Exception as exc:  # reported to each delivery's task, which logs it
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


class Bus:
    """One service's connection to the bus: its broker, outbox relay and subscriptions."""

    def __init__(self, settings: ServiceSettings, service: Service, consumer: str | None = None) -> None:
        self.settings = settings
        self.service = service
        # Queues are named after the consumer: the service, unless told otherwise (tests, benchmarks).
        self.consumer = consumer or str(service)
        self.broker = make_broker(settings, service)
        self.publisher = Publisher(self.broker)
        self.stats = ConsumerStats()
        self.subscriptions: list[Subscription[Any]] = []
        self._pool: asyncpg.Pool | None = None
        self.relay: outbox.OutboxRelay | None = None
        self._batchers: dict[str, Batcher] = {}

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the bus is not started")
        return self._pool

    def subscribe(
        self,
        message_type: type[M],
        handler: Handler[M],
        *,
        idempotent: bool = True,
        refuse: Refusal | None = None,
    ) -> None:
        """Consume `message_type` on this service's own quorum queue.

        `idempotent=False` is for queries answered by request/reply: they change nothing,
        so they skip the inbox. `refuse` answers messages that do not parse (a sender's
        command, say, told why it is refused) rather than only dead-lettering them.
        """
        sub = Subscription(self.consumer, message_type, handler, idempotent, refuse)
        self.subscriptions.append(sub)
        queue = quorum_queue(sub.queue, message_type.routing_key, self.settings.delivery_limit)

        async def on_message(message: Any) -> None:
            await self._consume(sub, cast(RabbitMessage, message))

        self.broker.subscriber(
            queue,
            exchange_for(message_type.exchange),
            ack_policy=AckPolicy.MANUAL,
            # Replies are ours (`_reply`, after the commit); FastStream's own would answer the
            # asker a second time, empty, to a reply queue often gone by then.
            no_reply=True,
            # The handler gets FastStream's message itself, body undecoded: we parse it with
            # the contract's model (and dead-letter what does not parse), so FastStream's JSON
            # decoding and its synchronous context lookup (a thread hop) would be wasted.
            decoder=_undecoded,
            title=sub.queue,
            description=message_type.__doc__,
        )(on_message)

    async def ask(self, query: Message, answer: type[R], *, timeout: float) -> R:
        """Request/reply: send `query` and wait up to `timeout` seconds for its `answer`.

        For a person waiting on a page for another service (a download link, a code check):
        raises `TimeoutError` when no answer comes in time, so the page can say so, and also
        when the broker returns the query because no queue takes it yet (the answering
        service has never started): for the person waiting, both mean "not now".
        """
        with tracing.client_span(query.routing_key, str(query.message_id), str(query.correlation_id)):
            try:
                response = await self.broker.request(
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

    async def declare(self) -> None:
        """Declare exchanges and dead-letter queues; call after connect, before start."""
        for spec in EXCHANGES:
            await self.broker.declare_exchange(exchange_for(spec.name))
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
        await self.broker.connect()
        await self.declare()
        self.relay = outbox.OutboxRelay(
            pool,
            self.publisher.publish_outgoing,
            batch=self.settings.outbox_batch,
            poll_seconds=self.settings.outbox_poll_seconds,
        )
        await self.relay.start()

    async def close(self) -> None:
        """After the broker stopped consuming: stop the batchers and the relay."""
        for batcher in self._batchers.values():
            await batcher.stop()
        self._batchers.clear()
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

    # ------------------------------------------------------------------ consume path

    async def _consume(self, sub: Subscription[Any], message: RabbitMessage) -> None:
        raw = message.raw_message
        letter_token = letter_id_var.set(raw.correlation_id)
        message_token = message_id_var.set(raw.message_id)
        span = tracing.start_consumer_span(sub.queue, raw.headers, raw.message_id, raw.correlation_id)
        span.set_attribute(tracing.MESSAGE_TYPE, sub.message_type.__name__)
        try:
            with trace.use_span(span, end_on_exit=False):
                await self._consume_one(sub, message, span)
        finally:
            span.end()
            letter_id_var.reset(letter_token)
            message_id_var.reset(message_token)

    async def _consume_one(self, sub: Subscription[Any], message: RabbitMessage, span: Span) -> None:
        try:
            parsed = sub.message_type.model_validate_json(message.body)
        except ValidationError as exc:
            faults = faults_of(exc)
            reason = f"malformed {sub.message_type.__name__}: {_summary(faults)}"
            if sub.refuse is None or not await self._refused(sub, message, faults, reason):
                await self.dead_letter(sub, message, reason)
            return
        delivery = Delivery(message, parsed, span)
        if sub.idempotent and self.settings.consume_batch > 1:
            await self._batcher(sub).submit(delivery)
        else:
            await self._process(sub, [delivery])

    def _batcher(self, sub: Subscription[Any]) -> Batcher:
        batcher = self._batchers.get(sub.queue)
        if batcher is None:
            batcher = Batcher(
                lambda batch: self._process(sub, batch),
                limit=self.settings.consume_batch,
                workers=self.settings.consume_workers,
            )
            self._batchers[sub.queue] = batcher
        return batcher

    async def _process(self, sub: Subscription[Any], batch: list[Delivery]) -> None:
        """Handle deliveries in one transaction, then ack each; on any failure in a batch,
        take its deliveries one by one so that only the failing one is retried."""
        try:
            outcomes = await self._handle(sub, batch)
        except Exception as exc:
            if len(batch) > 1:
                for delivery in batch:
                    await self._process(sub, [delivery])
                return
            message = batch[0].message
            with trace.use_span(batch[0].span, end_on_exit=False):
                if (reason := permanent_reason(exc)) is not None:
                    await self.dead_letter(sub, message, reason)
                else:
                    await self._retry_later(sub, message, exc)
            return
        self._fault_point(sub)
        for delivery, outcome in zip(batch, outcomes, strict=True):
            with trace.use_span(delivery.span, end_on_exit=False):
                if outcome.dead_letter is not None:
                    await self.dead_letter(sub, delivery.message, outcome.dead_letter)
                else:
                    await self._acknowledge(sub, delivery, outcome)

    async def _acknowledge(self, sub: Subscription[Any], delivery: Delivery, outcome: _Outcome) -> None:
        """After the commit: answer the asker, if any, then ack."""
        message = delivery.message
        if outcome.reply is not None and message.raw_message.reply_to:
            await self._reply(outcome.reply, message)
        await message.ack()
        counted: metrics.Outcome = "duplicate" if outcome.duplicate else "handled"
        delivery.span.set_attribute(tracing.OUTCOME, counted)
        metrics.count(sub.queue, counted)
        about = {
            "queue": sub.queue,
            "message_id": str(delivery.parsed.message_id),
            "letter_id": str(delivery.parsed.correlation_id),
        }
        if outcome.duplicate:
            self.stats.duplicates += 1
            log.info("already handled; acknowledged again", extra=about)
        elif outcome.refused is not None:
            self.stats.handled += 1
            log.warning("refused: %s", outcome.refused, extra=about)
        else:
            self.stats.handled += 1
            log.debug("handled", extra=about)

    async def _handle(self, sub: Subscription[Any], batch: list[Delivery]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        async with self.pool.acquire() as conn, conn.transaction():
            claims = (
                await _claim(conn, sub.queue, [(d.parsed.message_id, _digest(d.message)) for d in batch])
                if sub.idempotent
                else [_Claim.fresh] * len(batch)
            )
            for delivery, claim in zip(batch, claims, strict=True):
                parsed = delivery.parsed
                if claim is _Claim.duplicate:
                    outcomes.append(_Outcome(duplicate=True))
                    continue
                if claim is _Claim.reused:
                    outcomes.append(await self._reused(conn, sub, delivery.message, parsed.message_id))
                    continue
                letter_id_var.set(str(parsed.correlation_id))
                message_id_var.set(str(parsed.message_id))
                with (
                    trace.use_span(delivery.span, end_on_exit=False),
                    metrics.HANDLER_SECONDS.labels(sub.queue).time(),
                ):
                    await self._slow_down(sub)
                    outcomes.append(_Outcome(reply=await sub.handler(parsed, Transaction(conn))))
        return outcomes

    async def _reused(
        self, conn: asyncpg.Connection, sub: Subscription[Any], message: RabbitMessage, message_id: UUID
    ) -> _Outcome:
        """A message under the id of another, different one already handled: never taken as
        a duplicate of it (it would be acked and lost), but refused to its sender, once, by the
        subscriber's `refuse`; without one, dead-lettered with that reason."""
        reason = (
            f"message_id {message_id} was already used by a different message;"
            " send this one again under a new message_id"
        )
        if sub.refuse is None:
            return _Outcome(dead_letter=reason)
        # Recorded under a key of its own (the id and this body), so its redeliveries are
        # recognised as such and it is refused only once.
        key = uuid5(_REUSED_ID, f"{message_id}:{_digest(message).hex()}")
        try:
            async with conn.transaction():  # a savepoint: undone if the refusal cannot be made
                claim = (await _claim(conn, sub.queue, [(key, _digest(message))]))[0]
                if claim is not _Claim.fresh:
                    return _Outcome(duplicate=True)
                if not await sub.refuse(message.body, (Fault("message_id", reason),), Transaction(conn)):
                    raise _NotRefused
        except _NotRefused:
            return _Outcome(dead_letter=reason)
        return _Outcome(refused=reason)

    async def _refused(
        self, sub: Subscription[Any], message: RabbitMessage, faults: tuple[Fault, ...], reason: str
    ) -> bool:
        """Let the subscriber answer a message that does not parse, once (the inbox, by the
        message's id); False when it cannot, and the message is dead-lettered."""
        assert sub.refuse is not None
        try:
            message_id = UUID(message.raw_message.message_id or "")
        except ValueError:
            return False
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                claim = (await _claim(conn, sub.queue, [(message_id, _digest(message))]))[0]
                if claim is _Claim.reused:
                    outcome = await self._reused(conn, sub, message, message_id)
                    if outcome.dead_letter is not None:
                        raise _NotRefused
                    claim = _Claim.duplicate if outcome.duplicate else _Claim.fresh
                elif claim is _Claim.fresh and not await sub.refuse(message.body, faults, Transaction(conn)):
                    raise _NotRefused  # and the inbox row goes with the transaction
        except _NotRefused:
            return False
        except Exception as exc:
            if (permanent := permanent_reason(exc)) is not None:
                await self.dead_letter(sub, message, f"{reason}; and its refusal failed: {permanent}")
            else:
                await self._retry_later(sub, message, exc)
            return True
        await message.ack()
        counted: metrics.Outcome = "handled" if claim is _Claim.fresh else "duplicate"
        metrics.count(sub.queue, counted)
        if claim is _Claim.fresh:
            self.stats.handled += 1
            log.info("refused: %s", reason, extra={"queue": sub.queue})
        else:
            self.stats.duplicates += 1
        return True

    async def _retry_later(self, sub: Subscription[Any], message: RabbitMessage, exc: Exception) -> None:
        deliveries = _delivery_count(message)
        delay = min(0.2 * 2**deliveries, 10.0) * (0.5 + random.random())
        log.warning(
            "handling failed (delivery %d of %d): %r; back in the queue in %.1f s",
            deliveries + 1,
            self.settings.delivery_limit,
            exc,
            delay,
            extra={"queue": sub.queue},
            exc_info=exc,
        )
        self.stats.retried += 1
        metrics.count(sub.queue, "retried")
        tracing.failed(trace.get_current_span(), exc, "retried")
        await asyncio.sleep(delay)
        # Quorum queues count this; past the delivery limit the broker dead-letters it.
        await message.nack(requeue=True)

    async def dead_letter(self, sub: Subscription[Any], message: RabbitMessage, reason: str) -> None:
        raw = message.raw_message
        headers = dict(raw.headers or {})
        headers.update(
            {
                DLQ_REASON_HEADER: reason[:2000],
                DLQ_QUEUE_HEADER: sub.queue,
                DLQ_EXCHANGE_HEADER: raw.exchange or "",
                DLQ_ROUTING_KEY_HEADER: raw.routing_key or "",
            }
        )
        await self.broker.publish(
            raw.body,
            routing_key=dead_letter_queue(sub.queue),
            persist=True,
            mandatory=True,
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
            headers=headers,
            content_type=raw.content_type,
            timeout=30.0,
        )
        await message.ack()
        self.stats.dead_lettered += 1
        metrics.count(sub.queue, "dead_lettered")
        tracing.failed(trace.get_current_span(), PermanentError(reason), "dead_lettered")
        log.error(
            "dead-lettered: %s",
            reason,
            extra={"queue": sub.queue, "message_id": raw.message_id, "letter_id": raw.correlation_id},
        )

    async def _reply(self, reply: Message, message: RabbitMessage) -> None:
        raw = message.raw_message
        await self.broker.publish(
            reply.to_json(),
            routing_key=raw.reply_to or "",
            correlation_id=raw.correlation_id,
            message_id=str(reply.message_id),
            content_type="application/json",
            mandatory=False,  # the asker may have given up waiting: its reply queue is gone
        )

    def _fault_point(self, sub: Subscription[Any]) -> None:
        # Test hook for crash tests only (see ServiceSettings.fault_injection).
        if self.settings.fault_injection == f"kill-after-commit:{sub.queue}":
            log.warning("fault injection: killing the process after commit, before ack")
            os.kill(os.getpid(), signal.SIGKILL)

    async def _slow_down(self, sub: Subscription[Any]) -> None:
        # Test hook for shutdown tests only: 'slow-handler:<queue>:<seconds>'.
        kind, _, rest = (self.settings.fault_injection or "").partition(":")
        queue, _, seconds = rest.rpartition(":")
        if kind == "slow-handler" and queue == sub.queue:
            log.warning("fault injection: handler held for %s s", seconds, extra={"queue": sub.queue})
            await asyncio.sleep(float(seconds))

    async def refresh_dead_letter_depths(self) -> None:
        """Read how many messages wait in each dead-letter queue into the metrics."""
        for sub in self.subscriptions:
            queue = await self.broker.declare_queue(dlq(sub.queue))
            declared = await queue.declare(timeout=2.0)  # declared before: only reads the depth
            metrics.dead_letters(sub.queue, int(declared.message_count or 0))


async def _undecoded(message: RabbitMessage) -> RabbitMessage:
    return message


def _delivery_count(message: RabbitMessage) -> int:
    value = (message.raw_message.headers or {}).get("x-delivery-count", 0)
    try:
        return int(str(value))
    except ValueError:
        return 0


def faults_of(error: ValidationError) -> tuple[Fault, ...]:
    """Each problem pydantic found, named by where it is in the message."""
    return tuple(Fault(field_path(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in error.errors())


def field_path(location: tuple[int | str, ...]) -> str:
    """A place in a message as refusals name it: `attachments[0].filename`."""
    named = ""
    for part in location:
        named += f"[{part}]" if isinstance(part, int) else f".{part}" if named else str(part)
    return named or "(body)"


def _summary(faults: tuple[Fault, ...]) -> str:
    return "; ".join(f"{fault.field}: {fault.reason}" for fault in faults[:10])


def _digest(message: RabbitMessage) -> bytes:
    return hashlib.sha256(message.body).digest()


class _Claim(enum.Enum):
    fresh = "fresh"  # first time: handle it
    duplicate = "duplicate"  # the same message again: acknowledge, nothing more
    reused = "reused"  # another message under an id already taken


@dataclass(frozen=True)
class _Outcome:
    reply: Message | None = None
    duplicate: bool = False
    refused: str | None = None  # answered to its sender with this reason
    dead_letter: str | None = None  # to be dead-lettered with this reason


async def _claim(conn: asyncpg.Connection, queue: str, messages: list[tuple[UUID, bytes]]) -> list[_Claim]:
    """Record each (message id, SHA-256 of its body) in the inbox; say of each whether it is
    new, a redelivery of a message handled before (same body), or a different message under
    an id already taken. In one round trip when all are new."""
    rows = await conn.fetch(
        "INSERT INTO inbox (queue, message_id, body_sha256)"
        " SELECT $1, m, h FROM unnest($2::uuid[], $3::bytea[]) AS t(m, h)"
        " ON CONFLICT DO NOTHING RETURNING message_id",
        queue,
        [message_id for message_id, _ in messages],
        [digest for _, digest in messages],
    )
    fresh = {row["message_id"] for row in rows}
    claims: list[_Claim] = []
    known: dict[UUID, bytes | None] | None = None
    for message_id, digest in messages:
        if message_id in fresh:
            fresh.discard(message_id)  # the same id twice in one batch: the second is not new
            claims.append(_Claim.fresh)
            continue
        if known is None:
            known = {
                row["message_id"]: row["body_sha256"]
                for row in await conn.fetch(
                    "SELECT message_id, body_sha256 FROM inbox"
                    " WHERE queue = $1 AND message_id = ANY($2::uuid[])",
                    queue,
                    [message_id for message_id, _ in messages],
                )
            }
        stored = known.get(message_id)
        # A row recorded before bodies were fingerprinted has none: taken as the same message.
        claims.append(_Claim.reused if stored is not None and bytes(stored) != digest else _Claim.duplicate)
    return claims
