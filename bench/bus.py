"""Throughput of the project's reliable bus against raw aio-pika on the same broker.

    uv run python bench/bus.py [--messages 20000] [--rounds 3] [--writers 8] [--tracing]

Project path: writer tasks each commit one transaction per message that puts it in the
outbox (`outbox.enqueue`); the `OutboxRelay` of a started `Bus` publishes the rows
(persistent, confirmed, mandatory) to a quorum queue, and the `Bus` subscriber handles
each message (inbox insert + effect row in one transaction, ack after commit). Timed
from the first enqueue to the moment the last message is handled (committed and acked).

Raw baseline: the same number of messages with bodies of the same size, published by as
many aio-pika tasks as there are writers on a confirming channel (persistent, mandatory,
each task awaiting its confirm) through the same exchange to a quorum queue with the
same arguments, and consumed concurrently by aio-pika with the same prefetch, one manual
ack per message. Timed from the first publish to the last ack.

Both paths run alternately in one process, several rounds each; the last line is
`RESULT bus_ratio=<median project rate / median raw rate>`.

Everything the run creates (a database `lre_bench_<tag>`, its two queues and their
dead-letter queues, the topology exchanges that did not exist before) is removed at the
end, even on error, timeout or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import secrets
import signal
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4

import aio_pika
import asyncpg
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic_settings import SettingsConfigDict

from lre_shared import outbox
from lre_shared.bus import Bus, Transaction, quorum_queue
from lre_shared.contracts import Message
from lre_shared.db import create_pool
from lre_shared.logs import configure_logging
from lre_shared.migrations import CURRENT_MESSAGING_DDL
from lre_shared.settings import ServiceSettings
from lre_shared.topology import (
    EXCHANGES,
    SENDERS_COMMANDS_EXCHANGE,
    UNROUTED_EXCHANGE,
    UNROUTED_QUEUE,
    Service,
    dead_letter_queue,
    events_exchange,
)
from lre_shared.tracing import configure_tracing

log = logging.getLogger("bench")

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


@dataclass(frozen=True)
class Options:
    messages: int
    rounds: int
    writers: int
    body_bytes: int
    timeout: float
    amqp_url: str
    pg_url: str
    access_log: bool
    tracing: bool


@dataclass(frozen=True)
class Run:
    options: Options
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
    # The JSON of a BenchPing with an empty payload is ~150 bytes; pad up to `body_bytes`.
    return "x" * max(0, body_bytes - 150)


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Measure:
    rate: float  # messages per second
    cpu_ms: float  # this process's CPU per message


# --------------------------------------------------------------------------- project path


async def project_round(
    run: Run, bus: Bus, writer_pool: asyncpg.Pool, ping: type[BenchPing], payload: str
) -> Measure:
    n, writers = run.options.messages, run.options.writers
    correlation_id = uuid4()
    base = bus.stats.handled

    async def writer(start: int) -> None:
        # One business transaction per message, as a request handler would do it.
        for seq in range(start, n, writers):
            message = ping(correlation_id=correlation_id, seq=seq, payload=payload)
            async with writer_pool.acquire() as conn, conn.transaction():
                await outbox.enqueue(conn, message)

    cpu0, t0 = cpu_seconds(), time.perf_counter()
    writing = asyncio.gather(*(writer(w) for w in range(writers)))
    try:
        # `handled` counts a message after its transaction committed and it was acked.
        while bus.stats.handled - base < n:
            if writing.done():
                writing.result()  # raises if a writer failed
            if bus.stats.dead_lettered or bus.stats.retried:
                raise RuntimeError(f"project path: a message failed: {bus.stats}")
            await asyncio.sleep(0.005)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        await writing
    finally:
        writing.cancel()
        with contextlib.suppress(BaseException):
            await writing

    # Untimed: the relay marks its last batch published a little after the consumer
    # handled it. Wait for that, check, and start the next round from empty tables.
    async with bus.pool.acquire() as conn:
        while True:
            if not await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                break
            await asyncio.sleep(0.05)
        effects = await conn.fetchval("SELECT count(*) FROM bench_effect")
        if effects != n:
            raise RuntimeError(f"project path: {effects} effect rows, want {n}")
        await conn.execute("TRUNCATE outbox, inbox, bench_effect")
    return Measure(n / elapsed, cpu * 1000 / n)


# ------------------------------------------------------------------------------ raw path


async def raw_round(
    run: Run, connection: AbstractRobustConnection, ping: type[BenchPing], payload: str, prefetch: int
) -> Measure:
    n, publishers = run.options.messages, run.options.writers
    correlation_id = uuid4()
    seen: set[UUID] = set()
    all_acked = asyncio.Event()

    async def on_message(message: AbstractIncomingMessage) -> None:
        await message.ack()
        seen.add(UUID(message.message_id))
        if len(seen) >= n:
            all_acked.set()

    async with (
        connection.channel(publisher_confirms=True, on_return_raises=True) as pub_channel,
        connection.channel() as sub_channel,
    ):
        await sub_channel.set_qos(prefetch_count=prefetch)
        queue = await sub_channel.get_queue(run.raw_queue, ensure=True)
        exchange = await pub_channel.get_exchange(ping.exchange, ensure=True)

        async def publisher(start: int) -> None:
            for seq in range(start, n, publishers):
                body = ping(correlation_id=correlation_id, seq=seq, payload=payload)
                # Returns once the broker confirmed; raises if it was returned or nacked.
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

        consumer_tag = await queue.consume(on_message)
        try:
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            publishing = asyncio.gather(*(publisher(p) for p in range(publishers)))
            waiting = asyncio.ensure_future(all_acked.wait())
            futures: list[asyncio.Future[Any]] = [publishing, waiting]
            try:
                await asyncio.wait(futures, return_when=asyncio.FIRST_EXCEPTION)
                if publishing.done():
                    publishing.result()  # raises if a publish failed
                await waiting
                elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
                await publishing
            finally:
                for future in futures:
                    future.cancel()
                    with contextlib.suppress(BaseException):
                        await future
        finally:
            await queue.cancel(consumer_tag)
    if len(seen) != n:
        raise RuntimeError(f"raw path: {len(seen)} distinct messages acked, want {n}")
    return Measure(n / elapsed, cpu * 1000 / n)


# ------------------------------------------------------------------- set-up and clean-up


async def existing_exchanges(connection: AbstractRobustConnection) -> set[str]:
    found = set()
    for spec in EXCHANGES:
        try:
            async with connection.channel() as channel:  # a failed passive declare closes it
                await channel.get_exchange(spec.name, ensure=True)
            found.add(spec.name)
        except aio_pika.exceptions.ChannelClosed:
            pass
    return found


async def cleanup(run: Run, admin_url: str, queues: Sequence[str], exchanges: set[str]) -> None:
    problems: list[str] = []
    if UNROUTED_EXCHANGE in exchanges:
        # Declared with it by the bus, bound to it: the exchange goes only once it is gone.
        queues = [*queues, UNROUTED_QUEUE]
    try:
        connection = await aio_pika.connect(run.options.amqp_url, timeout=30)
        async with connection:
            for name in queues:
                try:
                    async with connection.channel() as channel:
                        await channel.queue_delete(name)
                except Exception as exc:
                    problems.append(f"queue {name}: {exc!r}")
            # The senders' command exchange last: it is bound to each service's command
            # exchange, and stays "in use" (if_unused) until those are gone.
            for name in sorted(exchanges, key=lambda name: (name == SENDERS_COMMANDS_EXCHANGE, name)):
                try:
                    async with connection.channel() as channel:
                        # if_unused: leave it if someone else bound a queue to it meanwhile
                        await channel.exchange_delete(name, if_unused=True)
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
        print("CLEAN-UP PROBLEMS:", *problems, sep="\n  ", file=sys.stderr)
    else:
        print(
            f"cleaned up: database {run.db_name}, {len(queues)} queues, "
            f"{len(exchanges)} exchanges this run had declared"
        )


async def bench(run: Run) -> float:
    options = run.options
    admin_url = with_database(options.pg_url, "postgres")
    db_url = with_database(options.pg_url, run.db_name)
    settings = BenchSettings(amqp_url=options.amqp_url, database_url=db_url, http_port=0)
    configure_logging("bench", "WARNING")
    if options.tracing:
        # As a service runs (`lre_shared.runtime`): spans are made for each publish and
        # delivery, here dropped as a service without an exporter drops them.
        configure_tracing("bench")
    if not options.access_log:
        # FastStream's per-message access log ("Received", "Processed") has a logger of its
        # own, which the broker sets to INFO with propagate=False and a stdout handler when
        # it starts: configure_logging's WARNING on `faststream` does not reach it. A filter
        # survives that setLevel.
        logging.getLogger("faststream.access.rabbit").addFilter(_warnings_only)
    ping = ping_type(run.tag)
    payload = payload_for(options.body_bytes)
    body_size = len(ping(correlation_id=uuid4(), seq=0, payload=payload).to_json())

    # The signer's bus (its exchanges), under a consumer name of this run's own: the queue is
    # `bench-<tag>.bench.ping.<tag>.v1`.
    bus = Bus(settings, Service.signer, run.consumer)

    async def handle(message: BenchPing, tx: Transaction) -> None:
        await tx.conn.execute(
            "INSERT INTO bench_effect (message_id, seq) VALUES ($1, $2)", message.message_id, message.seq
        )

    bus.subscribe(ping, handle)
    bus_queue = bus.subscriptions[0].queue
    queues = [bus_queue, dead_letter_queue(bus_queue), run.raw_queue, dead_letter_queue(run.raw_queue)]
    declared_exchanges: set[str] = set()
    stops: list[Callable[[], Awaitable[None]]] = []
    try:
        admin = await asyncpg.connect(admin_url, timeout=30)
        try:
            await admin.execute(f'CREATE DATABASE "{run.db_name}"')
        finally:
            await admin.close()
        setup = await asyncpg.connect(db_url, timeout=30)
        try:
            await setup.execute(CURRENT_MESSAGING_DDL + EFFECT_DDL)
        finally:
            await setup.close()

        raw_connection = await aio_pika.connect_robust(options.amqp_url, timeout=30)
        stops.append(raw_connection.close)
        declared_exchanges = {spec.name for spec in EXCHANGES} - await existing_exchanges(raw_connection)

        pool = await create_pool(db_url, settings.db_pool_size)
        stops.append(pool.close)
        writer_pool = await create_pool(db_url, options.writers)
        stops.append(writer_pool.close)
        await bus.start(pool)
        stops.append(bus.stop)

        # The raw queue: same type and arguments as the bus's, and its dead-letter queue.
        async with raw_connection.channel() as channel:
            spec = quorum_queue(run.raw_queue, run.raw_routing_key, settings.delivery_limit)
            await channel.declare_queue(
                dead_letter_queue(run.raw_queue), durable=True, arguments={"x-queue-type": "quorum"}
            )
            queue = await channel.declare_queue(
                run.raw_queue, durable=True, arguments={"x-queue-type": "quorum", **(spec.arguments or {})}
            )
            await queue.bind(ping.exchange, routing_key=run.raw_routing_key)

        server = raw_connection.transport.connection.server_properties if raw_connection.transport else {}
        print(
            f"N={options.messages} body={body_size} B prefetch={settings.prefetch} "
            f"writers=publishers={options.writers} bus_pool={settings.db_pool_size} "
            f"writer_pool={options.writers} outbox_batch={settings.outbox_batch} "
            f"rounds={options.rounds} timeout={options.timeout:.0f}s "
            f"rabbitmq={server.get('version', '?')!s} access_log={'on' if options.access_log else 'off'} "
            f"tracing={'on' if options.tracing else 'off'}"
        )
        print(f"queues {bus_queue} (project), {run.raw_queue} (raw); database {run.db_name}")

        rates: dict[str, list[float]] = {"raw": [], "project": []}
        for i in range(1, options.rounds + 1):
            for label in ("raw", "project"):
                try:
                    async with asyncio.timeout(options.timeout):
                        if label == "raw":
                            measure = await raw_round(run, raw_connection, ping, payload, settings.prefetch)
                        else:
                            measure = await project_round(run, bus, writer_pool, ping, payload)
                except TimeoutError:
                    raise RuntimeError(
                        f"{label} round {i} did not finish within {options.timeout:.0f} s"
                    ) from None
                rates[label].append(measure.rate)
                print(
                    f"round {i} {label:<7} {measure.rate:7.0f} msg/s"
                    f"   (this process: {measure.cpu_ms:.2f} ms CPU/msg)",
                    flush=True,
                )

        raw_median = statistics.median(rates["raw"])
        project_median = statistics.median(rates["project"])
        print(f"median raw     {raw_median:7.0f} msg/s")
        print(f"median project {project_median:7.0f} msg/s")
        return project_median / raw_median
    finally:
        for stop in reversed(stops):
            try:
                async with asyncio.timeout(60):
                    await stop()
            except Exception as exc:
                print(f"stopping: {exc!r}", file=sys.stderr)
        async with asyncio.timeout(120):
            await cleanup(run, admin_url, queues, declared_exchanges)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description="Bus throughput: project path vs raw aio-pika.")
    parser.add_argument("--messages", type=int, default=20_000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each path, alternately")
    parser.add_argument("--writers", type=int, default=8, help="outbox writer tasks = raw publisher tasks")
    parser.add_argument("--body-bytes", type=int, default=300, help="approximate JSON body size")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per round")
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="keep FastStream's per-message access log (services write it at DEBUG, below their level)",
    )
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="install the tracer provider services install (spans made, not exported)",
    )
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.rounds < 1 or args.writers < 1:
        parser.error("--messages, --rounds and --writers must be at least 1")
    return Options(
        messages=args.messages,
        rounds=args.rounds,
        writers=args.writers,
        body_bytes=args.body_bytes,
        timeout=args.timeout,
        amqp_url=args.amqp_url,
        pg_url=args.pg_url,
        access_log=args.access_log,
        tracing=args.tracing,
    )


async def amain(run: Run) -> float:
    task = asyncio.current_task()
    if task is not None:  # SIGTERM cancels the run, and the clean-up still happens
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await bench(run)


def main() -> None:
    run = Run(parse_args())
    try:
        ratio = asyncio.run(amain(run))
    except (Exception, KeyboardInterrupt, asyncio.CancelledError) as exc:
        log.error("bench failed: %r", exc, exc_info=exc)
        print(f"FAILED: {exc!r}", file=sys.stderr)
        sys.exit(1)
    print(f"RESULT bus_ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
