"""The consume path: one delivery from the broker to its handler's commit, then its ack.

A consumer records the `message_id` in its inbox in the same transaction as the effect,
publishes through the outbox in that transaction too, and acks only after the commit. A
message that cannot be parsed, or fails for good (`PermanentError`), is moved to the
dead-letter queue at once with the reason in its headers, unless its subscriber answers it
itself (`refuse`); any other failure is transient: the message is returned after a back-off
and the broker's delivery limit bounds the retries. An outage (the database restarting, the
mail server refusing for now: `refusals.outage_reason`) is not the message's fault: the
delivery is tried again in place, unreturned, until the part is back or
`outage_patience_seconds` have passed, so that an outage of minutes never sends a good message
to the dead-letter queue.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid5

import asyncpg
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from opentelemetry import trace
from opentelemetry.trace import Span
from pydantic import ValidationError

from lre_shared import metrics, outbox, tracing
from lre_shared.bus import inbox
from lre_shared.bus.acks import Settlements
from lre_shared.bus.batches import Batcher
from lre_shared.bus.declare import broker_user
from lre_shared.bus.identity import PUBLISHER_USER, original_publisher
from lre_shared.bus.refusals import (
    Fault,
    PermanentError,
    faults_of,
    outage_reason,
    permanent_reason,
    summary,
)
from lre_shared.contracts import Message
from lre_shared.logs import letter_id_var, message_id_var
from lre_shared.settings import ServiceSettings
from lre_shared.topology import (
    DLQ_EXCHANGE_HEADER,
    DLQ_QUEUE_HEADER,
    DLQ_REASON_HEADER,
    DLQ_ROUTING_KEY_HEADER,
    ORIGINAL_USER_HEADER,
    QUERY_REFUSED_HEADER,
    dead_letter_queue,
    queue_name,
)

log = logging.getLogger("lre_shared.bus")

M = TypeVar("M", bound=Message)


@dataclass
class Transaction:
    """What a handler gets: the open database transaction, and the outbox inside it."""

    conn: asyncpg.Connection

    async def publish(self, message: Message) -> None:
        await outbox.enqueue(self.conn, message)


Handler = Callable[[M, Transaction], Awaitable[Message | None]]

# Answers a message that cannot be taken as it is (it does not parse, or reuses the id of
# another message), inside the transaction that also records it in the inbox: True when it
# did (the message is then acked), False to dead-letter it with the reason.
Refusal = Callable[[bytes, tuple[Fault, ...], Transaction], Awaitable[bool]]

# The inbox key under which a message reusing another message's id is recorded once refused,
# so that its redeliveries are not refused again.
_REUSED_ID = UUID("5b0c3f0e-6d0a-4a53-8f6e-2b1d3c4e5f60")


class _NotRefused(Exception):
    """A subscriber's `refuse` could not answer a malformed message."""


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


@dataclass(frozen=True)
class Outcome:
    reply: Message | None = None
    duplicate: bool = False
    refused: str | None = None  # answered to its sender with this reason
    dead_letter: str | None = None  # to be dead-lettered with this reason


class Consumer:
    """Takes deliveries from the broker to their handlers, and settles each with the broker."""

    def __init__(
        self, settings: ServiceSettings, broker: RabbitBroker, pool: Callable[[], asyncpg.Pool]
    ) -> None:
        self.settings = settings
        self.broker = broker
        self._pool = pool
        self.stats = ConsumerStats()
        self._batchers: dict[str, Batcher[Delivery]] = {}
        self.settlements = Settlements()
        self._stopping = asyncio.Event()  # deliveries waiting out an outage give up at once
        # Named in what this consumer dead-letters, so that the broker vouches for the header
        # that keeps the original publisher.
        self._own_user = broker_user(settings.amqp_url.get_secret_value())

    def _publisher(self, message: RabbitMessage) -> str | None:
        raw = message.raw_message
        return original_publisher(raw.user_id, raw.headers, self.settings.trusted_publishers)

    async def stop(self) -> None:
        self._stopping.set()
        for batcher in self._batchers.values():
            await batcher.stop()
        self._batchers.clear()

    async def consume(self, sub: Subscription[Any], message: RabbitMessage) -> None:
        raw = message.raw_message
        letter_token = letter_id_var.set(raw.correlation_id)
        message_token = message_id_var.set(raw.message_id)
        publisher_token = PUBLISHER_USER.set(self._publisher(message))
        span = tracing.start_consumer_span(sub.queue, raw.headers, raw.message_id, raw.correlation_id)
        span.set_attribute(tracing.MESSAGE_TYPE, sub.message_type.__name__)
        self.settlements.received(raw)  # already, when it came through the subscriber
        try:
            # The span is made current where code that reads it runs (the handler, a
            # refusal, a dead-lettering), in whichever task that is: not here, per delivery.
            await self._consume_one(sub, message, span)
        finally:
            span.end()
            letter_id_var.reset(letter_token)
            message_id_var.reset(message_token)
            PUBLISHER_USER.reset(publisher_token)

    async def _consume_one(self, sub: Subscription[Any], message: RabbitMessage, span: Span) -> None:
        try:
            parsed = sub.message_type.model_validate_json(message.body)
        except ValidationError as exc:
            faults = faults_of(exc)
            reason = f"malformed {sub.message_type.__name__}: {summary(faults)}"
            with trace.use_span(span, end_on_exit=False):
                if sub.refuse is None or not await self._refused(sub, message, faults, reason):
                    await self.dead_letter(sub, message, reason)
            return
        delivery = Delivery(message, parsed, span)
        if sub.idempotent and self.settings.consume_batch > 1:
            await self._batcher(sub).submit(delivery)
        else:
            await self._process(sub, [delivery])

    def _batcher(self, sub: Subscription[Any]) -> Batcher[Delivery]:
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
        since = asyncio.get_running_loop().time()
        tries = 0
        while True:
            try:
                outcomes = await self._handle(sub, batch)
            except Exception as exc:
                if len(batch) > 1:
                    for delivery in batch:
                        await self._process(sub, [delivery])
                    return
                tries += 1
                message = batch[0].message
                with trace.use_span(batch[0].span, end_on_exit=False):
                    if (reason := permanent_reason(exc)) is not None:
                        await self.dead_letter(sub, message, reason)
                    elif (down := outage_reason(exc)) is not None and await self._wait_out(
                        sub, down, since, tries
                    ):
                        continue
                    else:
                        await self._retry_later(sub, message, exc)
                return
            await self.after_commit(sub, batch, outcomes)
            return

    async def _wait_out(self, sub: Subscription[Any], down: str, since: float, tries: int) -> bool:
        """Wait before trying a delivery again in place, while a part it needs is down: False
        once `outage_patience_seconds` have passed or the consumer stops (it is then returned
        to the queue as any failure is)."""
        loop = asyncio.get_running_loop()
        if self._stopping.is_set() or loop.time() - since >= self.settings.outage_patience_seconds:
            return False
        delay = min(0.25 * 2 ** min(tries, 6), 5.0) * (0.5 + random.random())
        if tries == 1 or tries % 10 == 0:
            log.warning(
                "a part this handler needs is down (%s): trying again in place, attempt %d",
                down,
                tries + 1,
                extra={"queue": sub.queue},
            )
        self.stats.retried += 1
        metrics.count(sub.queue, "retried")
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except TimeoutError:
            return True
        return False

    async def after_commit(
        self, sub: Subscription[Any], batch: list[Delivery], outcomes: list[Outcome]
    ) -> None:
        """The batch is committed: dead-letter or acknowledge each delivery. A crash before
        this leaves the messages to be redelivered, and the inbox to recognise them.

        Replies go first, then one ack for the batch when the order of the channel's
        deliveries allows it (`Settlements`); counters and log lines are shared by the batch.
        """
        acked: list[tuple[Delivery, Outcome]] = []
        for delivery, outcome in zip(batch, outcomes, strict=True):
            if outcome.dead_letter is not None:
                with trace.use_span(delivery.span, end_on_exit=False):
                    await self.dead_letter(sub, delivery.message, outcome.dead_letter)
                continue
            if outcome.reply is not None and delivery.message.raw_message.reply_to:
                await self._reply(outcome.reply, delivery.message)
            acked.append((delivery, outcome))
        if not acked:
            return
        await self.settlements.ack([delivery.message.raw_message for delivery, _ in acked])
        duplicates = 0
        for delivery, outcome in acked:
            counted: metrics.Outcome = "duplicate" if outcome.duplicate else "handled"
            delivery.span.set_attribute(tracing.OUTCOME, counted)
            # A line logged carries the delivery's trace: its span is made current to log it.
            if outcome.duplicate:
                duplicates += 1
                with trace.use_span(delivery.span, end_on_exit=False):
                    log.info("already handled; acknowledged again", extra=_about(sub, delivery))
            elif outcome.refused is not None:
                with trace.use_span(delivery.span, end_on_exit=False):
                    log.warning("refused: %s", outcome.refused, extra=_about(sub, delivery))
            elif log.isEnabledFor(logging.DEBUG):
                with trace.use_span(delivery.span, end_on_exit=False):
                    log.debug("handled", extra=_about(sub, delivery))
        self.stats.duplicates += duplicates
        self.stats.handled += len(acked) - duplicates
        metrics.count(sub.queue, "handled", len(acked) - duplicates)
        metrics.count(sub.queue, "duplicate", duplicates)

    async def _handle(self, sub: Subscription[Any], batch: list[Delivery]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        async with self._pool().acquire() as conn, conn.transaction():
            claims = (
                await inbox.claim(
                    conn, sub.queue, [(d.parsed.message_id, inbox.digest(d.message.body)) for d in batch]
                )
                if sub.idempotent
                else [inbox.Claim.fresh] * len(batch)
            )
            for delivery, claim in zip(batch, claims, strict=True):
                parsed = delivery.parsed
                if claim is inbox.Claim.duplicate:
                    outcomes.append(Outcome(duplicate=True))
                    continue
                if claim is inbox.Claim.reused:
                    with trace.use_span(delivery.span, end_on_exit=False):
                        outcomes.append(await self._reused(conn, sub, delivery.message, parsed.message_id))
                    continue
                letter_id_var.set(str(parsed.correlation_id))
                message_id_var.set(str(parsed.message_id))
                PUBLISHER_USER.set(self._publisher(delivery.message))
                with (
                    trace.use_span(delivery.span, end_on_exit=False),
                    metrics.handler_seconds(sub.queue).time(),
                ):
                    outcomes.append(Outcome(reply=await sub.handler(parsed, Transaction(conn))))
        return outcomes

    async def _reused(
        self, conn: asyncpg.Connection, sub: Subscription[Any], message: RabbitMessage, message_id: UUID
    ) -> Outcome:
        """A message under the id of another, different one already handled: never taken as
        a duplicate of it (it would be acked and lost), but refused to its sender, once, by the
        subscriber's `refuse`; without one, dead-lettered with that reason."""
        reason = (
            f"message_id {message_id} was already used by a different message;"
            " send this one again under a new message_id"
        )
        if sub.refuse is None:
            return Outcome(dead_letter=reason)
        # Recorded under a key of its own (the id and this body), so its redeliveries are
        # recognised as such and it is refused only once.
        body_digest = inbox.digest(message.body)
        key = uuid5(_REUSED_ID, f"{message_id}:{body_digest.hex()}")
        try:
            async with conn.transaction():  # a savepoint: undone if the refusal cannot be made
                claim = (await inbox.claim(conn, sub.queue, [(key, body_digest)]))[0]
                if claim is not inbox.Claim.fresh:
                    return Outcome(duplicate=True)
                if not await sub.refuse(message.body, (Fault("message_id", reason),), Transaction(conn)):
                    raise _NotRefused
        except _NotRefused:
            return Outcome(dead_letter=reason)
        return Outcome(refused=reason)

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
            async with self._pool().acquire() as conn, conn.transaction():
                claim = (await inbox.claim(conn, sub.queue, [(message_id, inbox.digest(message.body))]))[0]
                if claim is inbox.Claim.reused:
                    outcome = await self._reused(conn, sub, message, message_id)
                    if outcome.dead_letter is not None:
                        raise _NotRefused
                    claim = inbox.Claim.duplicate if outcome.duplicate else inbox.Claim.fresh
                elif claim is inbox.Claim.fresh and not await sub.refuse(
                    message.body, faults, Transaction(conn)
                ):
                    raise _NotRefused  # and the inbox row goes with the transaction
        except _NotRefused:
            return False
        except Exception as exc:
            if (permanent := permanent_reason(exc)) is not None:
                await self.dead_letter(sub, message, f"{reason}; and its refusal failed: {permanent}")
            else:
                await self._retry_later(sub, message, exc)
            return True
        await self.settlements.ack_one(message.raw_message)
        counted: metrics.Outcome = "handled" if claim is inbox.Claim.fresh else "duplicate"
        metrics.count(sub.queue, counted)
        if claim is inbox.Claim.fresh:
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
        await self.settlements.nack(message.raw_message, requeue=True)

    async def dead_letter(self, sub: Subscription[Any], message: RabbitMessage, reason: str) -> None:
        raw = message.raw_message
        headers = dict(raw.headers or {})
        headers.update(
            {
                DLQ_REASON_HEADER: reason[:2000],
                DLQ_QUEUE_HEADER: sub.queue,
                DLQ_EXCHANGE_HEADER: raw.exchange or "",
                DLQ_ROUTING_KEY_HEADER: raw.routing_key or "",
                ORIGINAL_USER_HEADER: self._publisher(message) or "",
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
            user_id=self._own_user,
            timeout=30.0,
        )
        if raw.reply_to:
            await self._refuse_query(message, reason)
        await self.settlements.ack_one(message.raw_message)
        self.stats.dead_lettered += 1
        metrics.count(sub.queue, "dead_lettered")
        tracing.failed(trace.get_current_span(), PermanentError(reason), "dead_lettered")
        log.error(
            "dead-lettered: %s",
            reason,
            extra={"queue": sub.queue, "message_id": raw.message_id, "letter_id": raw.correlation_id},
        )

    async def _refuse_query(self, message: RabbitMessage, reason: str) -> None:
        """Tell the asker of a dead-lettered query why, so that it fails now rather than
        at its timeout. Best effort: the query is in its dead-letter queue already."""
        raw = message.raw_message
        try:
            await self.broker.publish(
                b"",
                routing_key=raw.reply_to or "",
                correlation_id=raw.correlation_id,
                headers={QUERY_REFUSED_HEADER: reason[:2000]},
                mandatory=False,  # the asker may have given up waiting: its reply queue is gone
            )
        except Exception as exc:  # the asker then waits out its timeout
            log.warning("could not tell the asker its query was refused: %s", exc)

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


def _about(sub: Subscription[Any], delivery: Delivery) -> dict[str, str]:
    return {
        "queue": sub.queue,
        "message_id": str(delivery.parsed.message_id),
        "letter_id": str(delivery.parsed.correlation_id),
    }


def _delivery_count(message: RabbitMessage) -> int:
    value = (message.raw_message.headers or {}).get("x-delivery-count", 0)
    try:
        return int(str(value))
    except ValueError:
        return 0
