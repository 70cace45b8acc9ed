"""Throughput of the project's reliable bus against raw aio-pika on the same broker.

    uv run python bench/bus.py [--messages 20000] [--rounds 3]

Project path: writer tasks each commit one transaction per message that puts it in the
outbox (`outbox.enqueue`); the `OutboxRelay` of a started `Bus` publishes the rows
(persistent, confirmed, mandatory) to a quorum queue, and the `Bus` subscriber handles
each message (inbox insert + effect row in one transaction, ack after commit). Timed
from the first enqueue to the moment the last message is handled (committed and acked).

Raw baseline: the same number of messages with the same bodies, published by as many
aio-pika tasks on a confirming channel (persistent, mandatory, each awaiting its
confirm) through the same exchange to a quorum queue with the same arguments, and
consumed by aio-pika with the same prefetch, one manual ack per message. Timed from the
first publish to the last ack.

Both paths run alternately, several rounds each; the last line is
`RESULT bus_ratio=<median project rate / median raw rate>`.

Everything the run creates (a database `lre_bench_<tag>`, its queues and their
dead-letter queues, the topology exchanges that did not exist before) is removed at the
end, even on error or timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, cast
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4

import aio_pika
import asyncpg  # type: ignore[import-untyped]
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic_settings import SettingsConfigDict

from lre_shared import outbox
from lre_shared.bus import Bus, Transaction, exchange_for, quorum_queue
from lre_shared.db import create_pool
from lre_shared.logs import configure_logging
from lre_shared.messages import Message
from lre_shared.migrations import MESSAGING_DDL
from lre_shared.settings import ServiceSettings
from lre_shared.topology import EXCHANGES, Service, dead_letter_queue, events_exchange

EFFECT_DDL = "CREATE TABLE bench_effect (message_id uuid PRIMARY KEY, seq integer NOT NULL);"


class BenchSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BENCH_", extra="ignore", frozen=True)


class BenchPing(Message):
    """A bench message on the signer's events exchange; each run gets its own routing key."""

    exchange: ClassVar[str] = events_exchange(Service.signer)
    routing_key: ClassVar[str] = "bench.ping.v1"

    seq: int
    payload: str


def ping_type(tag: str) -> type[BenchPing]:
    """A BenchPing routed by a key of this run only, so nobody else's queue gets them."""

    class RunPing(BenchPing):
        routing_key: ClassVar[str] = f"bench.ping.{tag}.v1"

    return RunPing


@dataclass
class Run:
    args: argparse.Namespace
    tag: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def db_name(self) -> str:
        return f"lre_bench_{self.tag}"

    @property
    def consumer(self) -> str:
        return f"bench-{self.tag}"

    @property
    def raw_queue(self) -> str:
        return f"bench-{self.tag}.raw"

    @property
    def raw_routing_key(self) -> str:
        return f"bench.raw.{self.tag}.v1"


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def payload_for(body_bytes: int) -> str:
    # The JSON of a BenchPing without payload is ~150 bytes; pad up to `body_bytes`.
    return "x" * max(0, body_bytes - 150)


# --------------------------------------------------------------------------- project path


async def project_round(
    run: Run,
    bus: Bus,
    writer_pool: asyncpg.Pool,
    ping: type[BenchPing],
    payload: str,
) -> float:
    n, writers = run.args.messages, run.args.writers
    correlation_id = uuid4()
    base = bus.stats.handled

    async def writer(start: int) -> None:
        for seq in range(start, n, writers):
            message = ping(correlation_id=correlation_id, seq=seq, payload=payload)
            async with writer_pool.acquire() as conn, conn.transaction():
                await outbox.enqueue(conn, message)

    t0 = time.perf_counter()
    writing = asyncio.gather(*(writer(w) for w in range(writers)))
    try:
        while bus.stats.handled - base < n:
            if writing.done() and writing.exception() is not None:
                await writing
            if bus.stats.dead_lettered or bus.stats.retried:
                raise RuntimeError(f"project path failed: {bus.stats}")
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - t0
        await writing
    finally:
        writing.cancel()
        with contextlib.suppress(BaseException):
            await writing
    async with bus.pool.acquire() as conn:
        effects = await conn.fetchval("SELECT count(*) FROM bench_effect")
        pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        if effects != n or pending != 0:
            raise RuntimeError(f"project path: {effects} effects, {pending} unpublished, want {n}, 0")
        await conn.execute("TRUNCATE outbox, inbox, bench_effect")
    return n / elapsed


# ------------------------------------------------------------------------------ raw path


async def raw_round(
    run: Run,
    connection: AbstractRobustConnection,
    ping: type[BenchPing],
    payload: str,
    prefetch: int,
) -> float:
    n, publishers = run.args.messages, run.args.writers
    correlation_id = uuid4()
    seen: set[UUID] = set()
    done = asyncio.Event()

    async with (
        connection.channel(publisher_confirms=True, on_return_raises=True) as pub_ch,
        connection.channel() as sub_ch,
    ):
        await sub_ch.set_qos(prefetch_count=prefetch)
        queue = await sub_ch.get_queue(run.raw_queue, ensure=True)
        exchange = await pub_ch.get_exchange(ping.exchange, ensure=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await message.ack()
            seen.add(UUID(message.message_id))
            if len(seen) >= n:
                done.set()

        async def publisher(start: int) -> None:
            for seq in range(start, n, publishers):
                body = ping(correlation_id=correlation_id, seq=seq, payload=payload)
                await exchange.publish(
                    aio_pika.Message(
                        body.to_json(),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=str(body.message_id),
                        correlation_id=str(body.correlation_id),
                        content_type="application/json",
                    ),
                    routing_key=run.raw_routing_key,
                    mandatory=True,
                    timeout=30.0,
                )

        tag = await queue.consume(on_message)
        try:
            t0 = time.perf_counter()
            publishing = asyncio.gather(*(publisher(p) for p in range(publishers)))
            try:
                waiting = asyncio.create_task(done.wait())
                await asyncio.wait({publishing, waiting}, return_when=asyncio.FIRST_EXCEPTION)
                if publishing.done():
                    await publishing  # raises if a publish failed
                await waiting
                elapsed = time.perf_counter() - t0
                await publishing
            finally:
                publishing.cancel()
                with contextlib.suppress(BaseException):
                    await publishing
        finally:
            await queue.cancel(tag)
    if len(seen) != n:
        raise RuntimeError(f"raw path: {len(seen)} distinct messages acked, want {n}")
    return n / elapsed


# ---------------------------------------------------------------------------- set-up


async def existing_exchanges(connection: AbstractRobustConnection) -> set[str]:
    found = set()
    for spec in EXCHANGES:
        try:
            async with connection.channel() as ch:
                await ch.get_exchange(spec.name, ensure=True)
            found.add(spec.name)
        except aio_pika.exceptions.ChannelClosed:
            pass
    return found


async def cleanup(
    run: Run,
    admin_url: str,
    amqp_url: str,
    bus_queue: str,
    created_exchanges: Callable[[], Awaitable[set[str]]],
) -> None:
    problems: list[str] = []
    try:
        connection = await aio_pika.connect(amqp_url, timeout=30)
        async with connection:
            for name in (
                bus_queue,
                dead_letter_queue(bus_queue),
                run.raw_queue,
                dead_letter_queue(run.raw_queue),
            ):
                try:
                    async with connection.channel() as ch:
                        await ch.queue_delete(name)
                except Exception as exc:
                    problems.append(f"queue {name}: {exc!r}")
            for name in sorted(await created_exchanges()):
                try:
                    async with connection.channel() as ch:
                        # if_unused: someone else may have bound a queue meanwhile
                        await ch.exchange_delete(name, if_unused=True)
                except Exception as exc:
                    problems.append(f"exchange {name}: {exc!r}")
    except Exception as exc:
        problems.append(f"rabbitmq: {exc!r}")
    try:
        conn = await asyncpg.connect(admin_url, timeout=30)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{run.db_name}" WITH (FORCE)')
        finally:
            await conn.close()
    except Exception as exc:
        problems.append(f"database {run.db_name}: {exc!r}")
    if problems:
        print("CLEANUP PROBLEMS:", *problems, sep="\n  ", file=sys.stderr)
    else:
        print(
            f"cleaned up: database {run.db_name}, queues {bus_queue}, {run.raw_queue} "
            "(+ .dlq), exchanges this run created"
        )


async def bench(run: Run) -> float:
    args = run.args
    admin_url = with_database(args.pg_url, "postgres")
    db_url = with_database(args.pg_url, run.db_name)
    settings = BenchSettings(amqp_url=args.amqp_url, database_url=db_url, http_port=0, log_level="WARNING")
    configure_logging("bench", settings.log_level)
    ping = ping_type(run.tag)
    payload = payload_for(args.body_bytes)
    body_size = len(ping(correlation_id=uuid4(), seq=0, payload=payload).to_json())

    # The consumer name is this run's own, so the queue is `bench-<tag>.<routing key>`.
    bus = Bus(settings, cast(Service, run.consumer))

    async def handle(message: BenchPing, tx: Transaction) -> None:
        await tx.conn.execute(
            "INSERT INTO bench_effect (message_id, seq) VALUES ($1, $2)",
            message.message_id,
            message.seq,
        )

    bus.subscribe(ping, handle)
    bus_queue = bus.subscriptions[0].queue
    before: set[str] | None = None

    async def created_exchanges() -> set[str]:
        if before is None:
            return set()
        return {spec.name for spec in EXCHANGES} - before

    started: list[Callable[[], Awaitable[None]]] = []
    try:
        admin = await asyncpg.connect(admin_url, timeout=30)
        try:
            await admin.execute(f'CREATE DATABASE "{run.db_name}"')
        finally:
            await admin.close()
        setup = await asyncpg.connect(db_url, timeout=30)
        try:
            await setup.execute(MESSAGING_DDL + EFFECT_DDL)
        finally:
            await setup.close()

        raw_conn = await aio_pika.connect_robust(args.amqp_url, timeout=30)
        started.append(raw_conn.close)
        before = await existing_exchanges(raw_conn)

        pool = await create_pool(db_url, settings.db_pool_size)
        started.append(pool.close)
        writer_pool = await create_pool(db_url, args.writers)
        started.append(writer_pool.close)
        await bus.start(pool)
        started.append(bus.stop)
        if not args.access_log:
            # FastStream's per-message access log ("Received"/"Processed") has its own
            # logger, set to INFO with propagate=False and a stdout handler when the
            # broker starts: configure_logging's `faststream` WARNING does not reach it.
            logging.getLogger("faststream.access.rabbit").setLevel(logging.WARNING)

        # The raw queue: same type and arguments as the bus's, and its dead-letter queue.
        async with raw_conn.channel() as ch:
            spec = quorum_queue(run.raw_queue, run.raw_routing_key, settings.delivery_limit)
            await ch.declare_queue(
                dead_letter_queue(run.raw_queue),
                durable=True,
                arguments={"x-queue-type": "quorum"},
            )
            q = await ch.declare_queue(
                run.raw_queue,
                durable=True,
                arguments={"x-queue-type": "quorum", **(spec.arguments or {})},
            )
            exchange = exchange_for(ping.exchange)
            await q.bind(exchange.name, routing_key=run.raw_routing_key)

        server = raw_conn.transport.connection.server_properties if raw_conn.transport else {}
        print(
            f"N={args.messages} body={body_size} B prefetch={settings.prefetch} "
            f"writers=publishers={args.writers} bus_pool={settings.db_pool_size} "
            f"writer_pool={args.writers} outbox_batch={settings.outbox_batch} "
            f"rounds={args.rounds} timeout={args.timeout:.0f}s "
            f"rabbitmq={server.get('version', '?')!s}"
        )
        print(f"queues: {bus_queue} (project), {run.raw_queue} (raw); database {run.db_name}")

        rates: dict[str, list[float]] = {"raw": [], "project": []}
        for i in range(1, args.rounds + 1):
            for label in ("raw", "project"):
                try:
                    async with asyncio.timeout(args.timeout):
                        if label == "raw":
                            rate = await raw_round(run, raw_conn, ping, payload, settings.prefetch)
                        else:
                            rate = await project_round(run, bus, writer_pool, ping, payload)
                except TimeoutError:
                    raise RuntimeError(
                        f"{label} round {i} did not finish within {args.timeout:.0f} s"
                    ) from None
                rates[label].append(rate)
                print(f"round {i} {label:<7} {rate:9.0f} msg/s", flush=True)

        raw_median = statistics.median(rates["raw"])
        project_median = statistics.median(rates["project"])
        print(f"median raw     {raw_median:9.0f} msg/s")
        print(f"median project {project_median:9.0f} msg/s")
        return project_median / raw_median
    finally:
        for stop in reversed(started):
            try:
                async with asyncio.timeout(60):
                    await stop()
            except Exception as exc:
                print(f"stopping: {exc!r}", file=sys.stderr)
        async with asyncio.timeout(120):
            await cleanup(run, admin_url, args.amqp_url, bus_queue, created_exchanges)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writers", type=int, default=8, help="outbox writer tasks, and raw publisher tasks")
    parser.add_argument("--body-bytes", type=int, default=300, help="approximate JSON body size")
    parser.add_argument(
        "--access-log", action="store_true", help="keep FastStream's per-message INFO access log (to stdout)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per round")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return parser.parse_args(argv)


async def amain(run: Run) -> float:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    return await bench(run)


def main() -> None:
    run = Run(parse_args())
    try:
        ratio = asyncio.run(amain(run))
    except (Exception, KeyboardInterrupt) as exc:
        logging.getLogger("bench").error("bench failed: %r", exc, exc_info=exc)
        print(f"FAILED: {exc!r}", file=sys.stderr)
        sys.exit(1)
    print(f"RESULT bus_ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
