"""Transactional outbox: a message is written to the `outbox` table in the same
PostgreSQL transaction as the change it announces; the relay publishes it afterwards
(persistent, confirmed, mandatory) and marks it published.

A crash between publishing and marking publishes the row again on restart: consumers
deduplicate by `message_id` (the inbox), so the net effect is exactly once.

The row keeps the message's headers, the W3C trace context among them
(`lre_shared.tracing`): the trace goes on after the relay, whichever replica publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from lre_shared import background, metrics, tracing
from lre_shared.contracts import Message

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "lre_outbox"

ENQUEUE = (
    "INSERT INTO outbox (message_id, correlation_id, exchange, routing_key, body, headers)"
    " SELECT $1::uuid, $2::uuid, $3::text, $4::text, $5::bytea, $6::jsonb FROM pg_notify($7::text, '')"
)


async def enqueue(conn: asyncpg.Connection, message: Message, headers: dict[str, Any] | None = None) -> None:
    """Add `message` to the outbox inside the caller's transaction, with `headers` and the
    current trace context."""
    headers = _traced(message, headers)
    # One statement: the row, and the NOTIFY that wakes the relay (PostgreSQL delivers it at
    # commit only, once the row is visible).
    await conn.execute(
        ENQUEUE,
        message.message_id,
        message.correlation_id,
        message.exchange,
        message.published_key,  # the class's key, or the message's own (`SenderEvent`)
        message.to_json(),
        json.dumps(headers),
        NOTIFY_CHANNEL,
    )


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    correlation_id: str
    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any]


# Publishes a batch of messages in order and says of each whether it failed (its exception)
# or the broker confirmed it (None).
PublishBatchFn = Callable[[Sequence[OutgoingMessage]], Awaitable[Sequence[BaseException | None]]]


class OutboxRelay:
    """Publishes pending outbox rows in batches; safe to run in several replicas
    (`FOR UPDATE SKIP LOCKED`: each row is taken by one relay at a time).

    One relay publishes its rows in `id` (commit) order: a batch is taken in that order and
    published in that order, in one write, on the one channel (`publish`), and RabbitMQ
    keeps a channel's order into each queue. Not across replicas (each takes its own rows),
    nor for a row whose publish failed and is retried after later ones: a consumer that
    needs order uses the message's own (`SenderEvent.sequence`)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publish: PublishBatchFn,
        *,
        batch: int = 500,
        poll_seconds: float = 1.0,
        keep_published_hours: float = 24.0,
    ) -> None:
        self._pool = pool
        self._publish = publish
        self._batch = batch
        self._poll = poll_seconds
        self._keep_hours = keep_published_hours
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self.published = 0

    async def start(self) -> None:
        self._listener = await self._pool.acquire()
        await self._listener.add_listener(NOTIFY_CHANNEL, self._on_notify)
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        await background.cancel(self._task)
        self._task = None
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(NOTIFY_CHANNEL, self._on_notify)
            await self._pool.release(self._listener)
            self._listener = None

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        rounds = 0
        while True:
            self._wake.clear()
            try:
                handled = await self.publish_pending()
                rounds += 1
                if rounds % 1000 == 1:
                    await self._forget_published()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay round failed; retrying")
                handled = 0
                await asyncio.sleep(self._poll)
            if handled < self._batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)

    async def publish_pending(self) -> int:
        """Publish one batch of due rows; return how many rows were taken."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, message_id, correlation_id, exchange, routing_key, body, headers, attempts"
                " FROM outbox WHERE published_at IS NULL AND next_attempt_at <= now()"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch,
            )
            if not rows:
                return 0
            try:
                results: Sequence[BaseException | None] = await self._publish(
                    [_outgoing(row) for row in rows]
                )
            except Exception as exc:  # the channel was gone, say: each row failed with it
                results = [exc] * len(rows)
            done = [row["id"] for row, result in zip(rows, results, strict=True) if result is None]
            if done:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", done
                )
            for row, result in zip(rows, results, strict=True):
                if result is None:
                    metrics.published(row["routing_key"], bytes(row["body"]))
                elif isinstance(result, BaseException):
                    delay = min(2 ** row["attempts"], 300) * (0.5 + random.random())
                    log.error(
                        "publishing %s to %s failed: %r; retrying in %.0f s",
                        row["message_id"],
                        row["exchange"] or "(default)",
                        result,
                        delay,
                        extra={
                            "letter_id": str(row["correlation_id"]),
                            "routing_key": row["routing_key"],
                        },
                    )
                    await conn.execute(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = $2,"
                        " next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                        row["id"],
                        repr(result)[:1000],
                        delay,
                    )
            self.published += len(done)
            return len(rows)

    async def _forget_published(self) -> None:
        await self._pool.execute(
            "DELETE FROM outbox WHERE published_at < now() - $1 * interval '1 hour'",
            self._keep_hours,
        )


def outgoing(message: Message, headers: dict[str, Any] | None = None) -> OutgoingMessage:
    """`message` ready to publish directly, with `headers` and the current trace context."""
    return OutgoingMessage(
        message_id=str(message.message_id),
        correlation_id=str(message.correlation_id),
        exchange=message.exchange,
        routing_key=message.published_key,
        body=message.to_json(),
        headers=_traced(message, headers),
    )


def _traced(message: Message, headers: dict[str, Any] | None) -> dict[str, Any]:
    return tracing.publishing_headers(
        message.routing_key, str(message.message_id), str(message.correlation_id), headers
    )


def _outgoing(row: asyncpg.Record) -> OutgoingMessage:
    headers = row["headers"]
    return OutgoingMessage(
        message_id=str(row["message_id"]),
        correlation_id=str(row["correlation_id"]),
        exchange=row["exchange"],
        routing_key=row["routing_key"],
        body=bytes(row["body"]),
        headers=json.loads(headers) if isinstance(headers, str) else dict(headers),
    )
