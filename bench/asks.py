"""Request/reply under concurrency: the project's `ask` against FastStream's own request.

    uv run python bench/asks.py [--asks 40] [--rounds 5] [--answer-ms 50]

A service answers download-link queries after `--answer-ms` (the time a real answer takes:
a database read, a presigned URL). In one process, `--asks` queries are asked at once of it,
as a pickup process does when many recipients wait on pages together:

- **project**: `lre_shared.bus.ask`, one reply consumer a connection (`lre_shared.bus.replies`);
- **baseline**: FastStream's `RabbitBroker.request`, on a broker connection of its own (direct
  reply-to takes one reply consumer a channel: it cannot share the project's).

Both paths run alternately, several rounds each; each round is timed from the first ask to
the last answer. The last line is `RESULT ask_ratio=<median baseline seconds / median project
seconds>`: how many times faster the same asks are answered.

The run uses a virtual host of its own (`lre-bench-asks-<tag>`) and a database
`lre_bench_asks_<tag>`, both removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
from faststream.rabbit import RabbitBroker
from pydantic_settings import SettingsConfigDict

from lre_shared.bus import Bus, Transaction
from lre_shared.contracts import DownloadLinkIssued, IssueDownloadLink, now_utc
from lre_shared.db import create_pool, ensure_database
from lre_shared.migrations import CURRENT_MESSAGING_DDL
from lre_shared.settings import ServiceSettings
from lre_shared.topology import Service

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
MANAGEMENT_URL = "http://127.0.0.1:15672"
DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class AskSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LRE_BENCH_ASKS_", frozen=True)


def query() -> IssueDownloadLink:
    return IssueDownloadLink(correlation_id=uuid.uuid4(), document_id=uuid.uuid4())


async def project(bus: Bus, asks: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(bus.ask(query(), DownloadLinkIssued, timeout=120) for _ in range(asks)))
    return time.perf_counter() - started


async def baseline(broker: RabbitBroker, asks: int) -> float:
    async def one() -> None:
        asked = query()
        answer = await broker.request(
            asked.to_json(),
            exchange=asked.exchange,
            routing_key=asked.routing_key,
            correlation_id=str(asked.message_id),
            message_id=str(asked.message_id),
            content_type="application/json",
            timeout=120,
        )
        DownloadLinkIssued.model_validate_json(answer.body)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(asks)))
    return time.perf_counter() - started


async def bench(asks: int, rounds: int, bus: Bus, broker: RabbitBroker) -> tuple[list[float], list[float]]:
    ours: list[float] = []
    theirs: list[float] = []
    paths: list[tuple[str, list[float], Callable[[], Awaitable[float]]]] = [
        ("project", ours, lambda: project(bus, asks)),
        ("baseline", theirs, lambda: baseline(broker, asks)),
    ]
    for n in range(rounds):
        for name, times, path in paths if n % 2 == 0 else reversed(paths):
            seconds = await path()
            times.append(seconds)
            print(f"round {n + 1} {name}: {asks} asks in {seconds:.2f} s", flush=True)
    return ours, theirs


async def main(asks: int, rounds: int, answer_ms: float) -> int:
    tag = secrets.token_hex(4)
    vhost = f"lre-bench-asks-{tag}"
    database = f"lre_bench_asks_{tag}"
    parts = urlsplit(AMQP_URL)
    amqp_url = urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))
    database_url = DATABASE_URL.rsplit("/", 1)[0] + "/" + database
    async with httpx.AsyncClient(base_url=MANAGEMENT_URL, auth=("guest", "guest")) as admin:
        path = "/api/vhosts/" + quote(vhost, safe="")
        (await admin.put(path)).raise_for_status()
        (
            await admin.put(
                f"/api/permissions/{quote(vhost, safe='')}/guest",
                json=dict.fromkeys(("configure", "write", "read"), ".*"),
            )
        ).raise_for_status()
        try:
            await ensure_database(database_url)
            pool = await create_pool(database_url, 10)
            await pool.execute(CURRENT_MESSAGING_DDL)
            settings = AskSettings(amqp_url=amqp_url, database_url=database_url, http_port=0)
            bus = Bus(settings, Service.archive, consumer=f"bench-asks-{tag}")

            async def link(asked: IssueDownloadLink, tx: Transaction) -> DownloadLinkIssued:
                await asyncio.sleep(answer_ms / 1000)
                return DownloadLinkIssued(
                    correlation_id=asked.correlation_id,
                    document_id=asked.document_id,
                    url=f"https://s3.example/{asked.document_id}",
                    expires_at=now_utc() + timedelta(minutes=5),
                )

            bus.subscribe(IssueDownloadLink, link, idempotent=False)
            await bus.start(pool)
            broker = RabbitBroker(amqp_url)
            await broker.connect()
            try:
                ours, theirs = await bench(asks, rounds, bus, broker)
            finally:
                await broker.stop()
                await bus.stop()
                await pool.close()
        finally:
            await admin.delete(path)
            system = await asyncpg.connect(DATABASE_URL)
            try:
                await system.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            finally:
                await system.close()
    mine, base = statistics.median(ours), statistics.median(theirs)
    print(f"project: median {mine:.2f} s for {asks} asks ({asks / mine:.0f} answers/s)")
    print(f"baseline: median {base:.2f} s for {asks} asks ({asks / base:.0f} answers/s)")
    print(f"RESULT ask_ratio={base / mine:.2f} asks={asks} answer_ms={answer_ms:.0f} rounds={rounds}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asks", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--answer-ms", type=float, default=50.0)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.asks, arguments.rounds, arguments.answer_ms)))
