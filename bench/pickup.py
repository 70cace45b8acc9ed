"""The pickup site under 100 concurrent recipients: item number and identity steps.

    uv run python bench/pickup.py [--clients 100] [--passes 10] [--runs 3]   # or: make bench-pickup

Starts the pickup service as its own process (the app of `pickup.main`, served by one
uvicorn process as in production, plain HTTP, JSON logs to a file), on a RabbitMQ virtual
host of its own and a PostgreSQL database `lre_bench_pickup_<random>_pickup` (both removed
at the end). `--clients` letters are deposited by publishing `LetterDeposited` on the bus, as the
archive does; the service's own handler stores them (its `SendNotice` goes to the virtual
host's unrouted queue: no notifier runs).

Each run, every client (a `Browser` below: one keep-alive connection and a cookie jar of its
own, connected before the clock starts) walks its own letter `--passes` times, each pass a
new visitor (cookies cleared):

    GET /  →  POST / (item number, CSRF token)  →  GET /identite  →  POST /identite

and every answer is checked (200, or the 303 to the next step). All clients start
together; the latency of each request is taken on the client, from sending to the last
byte. A run's rate is its requests over its wall time. The figures printed are per run,
then the medians of the runs; the last line is
`RESULT pickup_rps=<median rate> pickup_p99_ms=<median p99>`. Goal: p99 ≤ 100 ms.

Besides the clients' figures, each run prints the time each step spent inside the service
(from the request's arrival in the application to its last byte, measured by a thin ASGI
wrapper around `pickup.main.create_app`; `--serve` is that child process) and the CPU the
service and the clients used per request. The clients share the machine with the service
(and PostgreSQL): with 100 visitors always waiting for an answer, the mean latency is 100
over the rate (Little's law), so on a small machine the clients' own CPU is part of the
figure; hence a client speaking HTTP over bare asyncio streams (about 0.06 ms of CPU a
request, where httpx took 0.9 ms). How far the slowest answers are from the mean is the
service's doing: its admission gate (`lre_shared.admission`, `PICKUP_CONCURRENT_REQUESTS`)
works on as many requests at once as it has database connections and lets the others in
in arrival order; `PICKUP_CONCURRENT_REQUESTS=1000` shows the site without it.

`--profile FILE` runs the service under cProfile and writes its stats to FILE when it
stops. Settings of the service may be given in the environment (e.g.
`PICKUP_DB_POOL_SIZE=50`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
# This file bears the service's name: the service's package must be the one `pickup` finds.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from deploy.local import platform  # noqa: E402
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER  # noqa: E402
from lre_shared.contracts import LetterDeposited, StoredDocument, now_utc  # noqa: E402
from tests.support import infra  # noqa: E402
from tests.support.bus import publish  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
IDENTITY = {
    "company": "societe exemple SAS",
    "last_name": "MARTIN",
    "first_name": "camille",
    "address": "12 av. de l'Opera",
    "postcode": "75001",
    "city": "PARIS",
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    by_step: dict[str, list[float]] = field(default_factory=dict)
    in_app: dict[str, list[float]] = field(default_factory=dict)  # measured inside the service
    wall_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    service_cpu_seconds: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.wall_seconds

    def percentile(self, p: float, step: str | None = None) -> float:
        return percentile(self.latencies_ms if step is None else self.by_step[step], p)

    async def timed(self, step: str, request: Awaitable[Page]) -> Page:
        started = time.perf_counter()
        page = await request
        elapsed = (time.perf_counter() - started) * 1000
        self.latencies_ms.append(elapsed)
        self.by_step.setdefault(step, []).append(elapsed)
        return page


class Browser:
    """A visitor's browser reduced to what the bench needs: one keep-alive HTTP/1.1
    connection over asyncio streams and a cookie jar. httpx spends about 0.9 ms of CPU on a
    request, more than the service it measures; on a 2-core machine the load generator's
    CPU is taken from the service, so the bench speaks HTTP with as little work as it can."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def connect(self) -> None:
        self.streams = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.streams:
            self.streams[1].close()
            await self.streams[1].wait_closed()

    async def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Page:
        if self.streams is None:
            await self.connect()
        assert self.streams is not None
        reader, writer = self.streams
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        if self.cookies:
            lines.append("cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        body = urlencode(form).encode() if form is not None else b""
        if form is not None:
            lines += ["content-type: application/x-www-form-urlencoded", f"content-length: {len(body)}"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        length = 0
        for line in head[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            name, value = name.lower(), value.strip()
            if name == "set-cookie":
                self.keep_cookie(value)
            elif name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise RuntimeError(f"{method} {path}: a chunked answer, which this bench does not read")
            headers[name] = value
        content = await reader.readexactly(length) if length else b""
        return Page(method, path, status, headers, content.decode())

    def keep_cookie(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        lowered = attributes.lower()
        if "max-age=0" in lowered or "1970" in lowered:  # the server clears it
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    text: str


def csrf_of(page: Page) -> str:
    found = CSRF.search(page.text)
    if not found:
        raise RuntimeError(f"no CSRF token in the answer to {page.method} {page.path} ({page.status})")
    return found.group(1)


def expect(page: Page, status: int, location: str | None = None) -> Page:
    if page.status != status or (location and page.headers.get("location") != location):
        raise RuntimeError(
            f"{page.method} {page.path}: {page.status} {page.headers.get('location', '')},"
            f" expected {status} {location or ''}\n{page.text[:500]}"
        )
    return page


async def visitor(browser: Browser, item_number: str, passes: int, run: Run) -> None:
    for _ in range(passes):
        browser.cookies.clear()  # each pass is a new visitor
        page = expect(await run.timed("GET /", browser.request("GET", "/")), 200)
        form = {"csrf_token": csrf_of(page), "item_number": item_number}
        expect(await run.timed("POST /", browser.request("POST", "/", form)), 303, "/identite")
        page = expect(await run.timed("GET /identite", browser.request("GET", "/identite")), 200)
        form = {"csrf_token": csrf_of(page), **IDENTITY}
        posted = await run.timed("POST /identite", browser.request("POST", "/identite", form))
        expect(posted, 303, "/decision")


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_run(base_url: str, item_numbers: list[str], passes: int, service_pid: int) -> Run:
    run = Run()
    address = httpx.URL(base_url)
    browsers = [Browser(address.host, address.port or 80) for _ in item_numbers]
    try:
        await asyncio.gather(*(b.connect() for b in browsers))  # connected before the clock starts
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        service_cpu = cpu_seconds(service_pid)
        started = time.perf_counter()
        await asyncio.gather(
            *(visitor(b, n, passes, run) for b, n in zip(browsers, item_numbers, strict=True))
        )
        run.wall_seconds = time.perf_counter() - started
        run.service_cpu_seconds = cpu_seconds(service_pid) - service_cpu
        after = resource.getrusage(resource.RUSAGE_SELF)
        run.client_cpu_seconds = (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime)
    finally:
        await asyncio.gather(*(b.close() for b in browsers))
    return run


def letters(count: int) -> list[LetterDeposited]:
    base = secrets.randbelow(10**11)
    return [
        LetterDeposited(
            correlation_id=uuid.uuid4(),
            item_number=f"{(base + i) % 10**12:012d}",
            sender=DEMO_SENDER,
            recipient=DEMO_RECIPIENT.model_copy(update={"email": f"bench-{i}@exemple.example"}),
            documents=(
                StoredDocument(document_id=uuid.uuid4(), filename="lettre.pdf", size=1024, sha256="0" * 64),
            ),
            verification_policy="default",
            deposited_at=now_utc(),
        )
        for i in range(count)
    ]


async def seed(amqp_url: str, database_url: str, deposited: list[LetterDeposited]) -> None:
    """Publish the deposits as the archive would; wait until the service has stored them all."""
    await publish(amqp_url, *deposited)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        conn = await asyncpg.connect(database_url)
        try:
            stored: int = await conn.fetchval("SELECT count(*) FROM letters")
        finally:
            await conn.close()
        if stored >= len(deposited):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"only {stored} of {len(deposited)} letters stored after 120 s")


@dataclass(frozen=True)
class Service:
    base_url: str
    database_url: str
    pid: int


@contextmanager
def pickup_service(amqp_url: str, pg_url: str, logs: Path, profile: Path | None) -> Iterator[Service]:
    """The pickup service as a process, on a database of its own."""
    prefix = f"lre_bench_pickup_{secrets.token_hex(4)}"
    config = platform.PlatformConfig(
        infra=platform.Infrastructure(
            amqp_url=amqp_url,
            postgres_url=pg_url,
            # The pickup service uses none of these.
            s3_endpoint="http://127.0.0.1:1",
            s3_access_key="unused",
            s3_secret_key="unused",
            smtp_host="127.0.0.1",
            smtp_port=1,
        ),
        database_prefix=prefix,
        ports=platform.default_ports(infra.free_port_block(5, 23000, 32000)),
        session_secret=secrets.token_urlsafe(48),
    )
    process = start(config, logs / "pickup.log", profile)
    try:
        platform.wait_ready(config.ports["pickup"], process, log_path=logs / "pickup.log")
        yield Service(
            base_url=config.pickup_url.rstrip("/"),
            database_url=platform.service_environment(config, "pickup")["PICKUP_DATABASE_URL"],
            pid=process.pid,
        )
    finally:
        platform.stop_process(process.pid)
        asyncio.run(infra.drop_databases(pg_url, prefix))


def start(config: platform.PlatformConfig, log: Path, profile: Path | None) -> subprocess.Popen[bytes]:
    """The service in a process of its own, with its settings from the environment as the
    platform gives them, run by `serve_measured` below (this file with --serve)."""
    env = dict(os.environ) | platform.service_environment(config, "pickup")
    command = [sys.executable, __file__, "--serve"] + (["--profile", str(profile)] if profile else [])
    with log.open("ab") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


TIMINGS_PATH = "/__bench/timings"


def serve_measured(profile: Path | None) -> None:
    """Serve the pickup app as `pickup.main.run` does, inside a thin ASGI wrapper that notes
    how long each request spent in the application (from its arrival in the app to the last
    byte handed to the server); `GET /__bench/timings` returns and forgets them. With
    `profile`, the process runs under cProfile and writes the stats when it stops."""
    import cProfile
    import json
    import signal

    import uvicorn
    from starlette.types import Receive, Scope, Send

    from pickup.main import create_app
    from pickup.settings import PickupSettings

    settings = PickupSettings()
    app = create_app(settings)
    timings: dict[str, list[float]] = {}

    async def measured(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if scope["path"] == TIMINGS_PATH:
            body = json.dumps(timings).encode()
            timings.clear()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        started = time.perf_counter()
        await app(scope, receive, send)
        step = f"{scope['method']} {scope['path']}"
        timings.setdefault(step, []).append((time.perf_counter() - started) * 1000)

    # As lre_shared.runtime.serve: a SIGTERM stops gracefully, and the process lives on
    # after it (here, to write the profile).
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    signal.raise_signal = lambda signum: None
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    try:
        uvicorn.run(
            measured,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            proxy_headers=True,
            timeout_graceful_shutdown=30,
        )
    finally:
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)


async def server_timings(base_url: str) -> dict[str, list[float]]:
    async with httpx.AsyncClient(base_url=base_url, trust_env=False) as client:
        answer = await client.get(TIMINGS_PATH)
        answer.raise_for_status()
        timings: dict[str, list[float]] = answer.json()
        return timings


def report(name: str, run: Run) -> None:
    print(
        f"{name}: {len(run.latencies_ms)} requests in {run.wall_seconds:.2f} s = {run.rps:6.0f} req/s;"
        f" latency ms p50 {run.percentile(50):.1f}  p90 {run.percentile(90):.1f}"
        f"  p99 {run.percentile(99):.1f}  max {max(run.latencies_ms):.1f};"
        f" CPU ms/request: service {run.service_cpu_seconds / len(run.latencies_ms) * 1000:.2f},"
        f" clients {run.client_cpu_seconds / len(run.latencies_ms) * 1000:.2f}",
        flush=True,
    )
    steps = ", ".join(
        f"{step} {run.percentile(50, step):.0f}/{run.percentile(99, step):.0f}" for step in run.by_step
    )
    print(f"    p50/p99 ms by step, at the clients: {steps}", flush=True)
    inside = ", ".join(
        f"{step} {percentile(times, 50):.1f}/{percentile(times, 99):.1f}"
        for step, times in run.in_app.items()
    )
    print(f"    p50/p99 ms by step, inside the service: {inside}", flush=True)


async def drive(service: Service, item_numbers: list[str], options: argparse.Namespace) -> list[Run]:
    # One pass of warm-up (connections, template cache, prepared statements), not counted.
    await one_run(service.base_url, item_numbers, 1, service.pid)
    await server_timings(service.base_url)
    runs = []
    for index in range(options.runs):
        run = await one_run(service.base_url, item_numbers, options.passes, service.pid)
        run.in_app = await server_timings(service.base_url)
        report(f"run {index + 1}", run)
        runs.append(run)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=100, help="concurrent visitors, one letter each")
    parser.add_argument("--passes", type=int, default=10, help="journeys per visitor per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--profile", type=Path, help="run the service under cProfile, stats to this file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        serve_measured(options.profile)
        return

    deposited = letters(options.clients)
    with (
        tempfile.TemporaryDirectory(prefix="lre-bench-pickup-") as logs,
        infra.rabbitmq_url() as amqp_url,
        pickup_service(amqp_url, options.pg_url, Path(logs), options.profile) as service,
    ):
        asyncio.run(seed(amqp_url, service.database_url, deposited))
        print(f"{len(deposited)} letters stored; {options.clients} clients, {options.passes} passes a run")
        runs = asyncio.run(drive(service, [d.item_number for d in deposited], options))

    rps = statistics.median(r.rps for r in runs)
    p99 = statistics.median(r.percentile(99) for r in runs)
    print(f"median of {len(runs)} runs: {rps:.0f} req/s, p99 {p99:.1f} ms (goal: p99 <= 100 ms)")
    print(f"RESULT pickup_rps={rps:.0f} pickup_p99_ms={p99:.1f}")


if __name__ == "__main__":
    main()
