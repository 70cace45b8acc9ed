"""Fault runs: the whole journey under load while a part of the platform fails, then every
store is checked: nothing lost, nothing doubled, dead-letter queues holding only what was
meant to land there.

A run drives `bench.journey.run_journey` (deposits through the sender client, recipients'
decisions over the pickup site, final evidence, then `bench.checker.check`) against a
platform on infrastructure of its own (tests/support/private_infra.py), so that restarting
RabbitMQ or PostgreSQL never disturbs the machine's shared engines. While the letters go,
the run's faults are applied one after another, each at its moment of the run (its progress:
notices in the SMTP catcher and letters at their final record); `a+b+c` names a run with
three faults in turn. The short set (the normal test command) is two such runs holding every
kind of fault; `make faults` runs each fault alone, with more letters.

    rabbitmq-restart   the broker stopped, down WINDOW seconds, started again
    rabbitmq-kill      the broker SIGKILLed, down WINDOW seconds, started again
    kill-<service>     that service SIGKILLed mid-run, restarted after WINDOW seconds
    kill-each          each of the five services SIGKILLed and restarted in turn
    postgres-restart   PostgreSQL (fast shutdown) down WINDOW seconds, started again
    postgres-kill      PostgreSQL and its backends SIGKILLed, crash recovery at the start
    s3-restart         the S3 store stopped, down WINDOW seconds, started again
    smtp-refusal       the mail server answers 451 to every recipient for SMTP_SECONDS
    duplicates         every message the services exchanged so far published again, same
                       message_id and bytes, onto the same exchanges (twice in the run)
    poison             a malformed body, under a message id no model accepts, on every
                       queue bound to a service's command exchange

After the run the broker is left to drain (every queue but the dead-letter ones empty), the
checker judges again, and the dead-letter queues are emptied and read: each must hold only
the poison injected by this run. Each run prints its line:

    RESULT fault=<name> letters=<n> lost=<n> doubled=<n> resent=<n> dlq_unexpected=<n>
        replayed=<n> poison=<dead-lettered>/<injected> seconds=<run time>

`replayed` counts the dead letters an operator had to replay (`lre-dlq replay`) for the run
to end: the notices a refusing mail server held back longer than the bus retries.

`resent` counts emails the catcher received twice under one Message-ID (a notice resent
after the notifier died between the server's acceptance and its record: the documented
window, docs/OPERATIONS.md); the checker counts them in `doubled` too, and `doubled_notices`
is `doubled - resent` (notices recorded or sent twice under different identities).

    uv run pytest -q tests/faults/test_fault_runs.py           # short: small N, short windows
    make faults                                                # long: LRE_FAULT_LETTERS, every fault

    uv run python -m tests.faults.runs smtp-refusal kill-notifier   # chosen faults (long settings)

Settings (environment): LRE_FAULT_LETTERS (letters a run: 8 short, 500 long), LRE_FAULT_MODE=long
(every fault, one run each; else the short set), LRE_FAULT_WINDOW (seconds a part stays down:
6 short, 10 long), LRE_FAULT_SMTP_SECONDS (seconds the mail server refuses: 20 short, 60 long).
The bus retries a transient failure for five deliveries with back-off (3 to 19 s in all): a
refusal or an outage longer than that dead-letters what it holds back. The SMTP refusal
replays the notifier's dead letters once the server is back, as an operator would (counted in
`replayed`); any other dead letter nobody injected ends the run early, and fails it
(docs/OPERATIONS.md, "What the fault runs prove").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx

from bench.checker import FINAL, Check, Letter, Stores, check
from bench.journey import Journey, Plan, Target, letters_of, run_journey, spawn, wait_port
from deploy.local import platform
from lre_shared import dlq
from tests.support import infra
from tests.support.private_infra import (
    PrivateInfra,
    PrivatePostgres,
    PrivateRabbit,
    PrivateSeaweed,
    private_infra,
)
from tests.support.running import RunningPlatform

ROOT = Path(__file__).resolve().parents[2]
SERVICES = platform.SERVICES

# The short set (the normal test command): every fault, in two runs, one after another in each.
SHORT_FAULTS = (
    "smtp-refusal+rabbitmq-restart+postgres-restart+s3-restart",
    "poison+kill-each+duplicates",
)
LONG_FAULTS = (
    "rabbitmq-restart",
    "rabbitmq-kill",
    *(f"kill-{service}" for service in SERVICES),
    "postgres-restart",
    "postgres-kill",
    "s3-restart",
    "smtp-refusal",
    "duplicates",
    "poison",
)


@dataclass(frozen=True)
class Settings:
    letters: int
    window: float  # seconds a restarted part stays down
    smtp_seconds: float  # seconds the mail server refuses
    long: bool

    @classmethod
    def from_env(cls) -> Settings:
        long = os.environ.get("LRE_FAULT_MODE", "") == "long"
        return cls(
            letters=int(os.environ.get("LRE_FAULT_LETTERS", "500" if long else "8")),
            window=float(os.environ.get("LRE_FAULT_WINDOW", "10" if long else "6")),
            smtp_seconds=float(os.environ.get("LRE_FAULT_SMTP_SECONDS", "60" if long else "20")),
            long=long,
        )

    @property
    def faults(self) -> tuple[str, ...]:
        return LONG_FAULTS if self.long else SHORT_FAULTS


# ----------------------------------------------------------------------- the platform


@dataclass
class FaultPlatform:
    """The five services as `make run` starts them, on infrastructure of their own."""

    infra: PrivateInfra
    running: RunningPlatform
    target: Target
    workdir: Path

    @classmethod
    @contextlib.contextmanager
    def started(cls, workdir: Path) -> Iterator[FaultPlatform]:
        logs = workdir / "logs"
        with contextlib.ExitStack() as stack:
            own = stack.enter_context(private_infra(workdir / "infra"))
            pki_port = infra.free_port_block(1, 24000, 32000)
            pki_dir = workdir / "pki"
            pki = spawn(
                ["deploy.local.pki", "--dir", str(pki_dir), "--port", str(pki_port)], logs / "pki.log"
            )
            stack.callback(platform.stop_process, pki.pid, 5)
            wait_port(pki_port, pki, "the test PKI", logs / "pki.log")
            s3 = own.seaweed.s3
            config = platform.PlatformConfig(
                infra=platform.Infrastructure(
                    amqp_url=own.rabbit.amqp_url,
                    postgres_url=own.postgres.url,
                    s3_endpoint=s3.endpoint,
                    s3_access_key=s3.access_key,
                    s3_secret_key=s3.secret_key,
                    smtp_host=own.smtp.host,
                    smtp_port=own.smtp.port,
                ),
                database_prefix=f"lref{secrets.token_hex(3)}",
                ports=platform.default_ports(infra.free_port_block(5, 23000, 32000)),
                session_secret=secrets.token_urlsafe(48),
                dkim_key_file=workdir / "dkim" / "key.pem",
                pki=platform.LocalPki(pki_dir, f"http://127.0.0.1:{pki_port}"),
                broker_admin_url=own.rabbit.admin_url,
            )
            running = RunningPlatform(config, logs)
            stack.callback(running.stop_all)
            # The pickup sweeper and the notifier's reminders look every second, as the
            # journey's own platform has them (a window moved into the past is seen at once).
            running.start_all({"PICKUP_UNCLAIMED_SWEEP_SECONDS": "1", "NOTIFIER_REMINDER_POLL_SECONDS": "1"})
            assert own.smtp.store.directory is not None
            stores = Stores(
                database_urls={service: running.database_url(service) for service in SERVICES},
                s3_endpoint=s3.endpoint,
                s3_access_key=s3.access_key,
                s3_secret_key=s3.secret_key,
                mail_dir=own.smtp.store.directory,
            )
            yield cls(own, running, Target(own.rabbit.amqp_url, config.pickup_url, stores, pki_dir), workdir)

    # -- faults on the services

    def kill_service(self, service: str) -> None:
        """SIGKILL the service's process: no shutdown, nothing flushed, nothing acknowledged."""
        process = self.running.processes.pop(service)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def start_service(self, service: str) -> None:
        self.running.start(
            service, {"PICKUP_UNCLAIMED_SWEEP_SECONDS": "1", "NOTIFIER_REMINDER_POLL_SECONDS": "1"}
        )

    def services_alive(self) -> list[str]:
        """Services whose process died by itself (none should, whatever the infrastructure does)."""
        return [name for name, process in self.running.processes.items() if process.poll() is not None]

    # -- the broker's state

    def queue_depths(self) -> dict[str, int]:
        return self.infra.rabbit.queue_depths()

    async def drained(self, timeout: float = 300.0) -> dict[str, int]:
        """Wait until every platform queue but the dead-letter ones is empty; what still
        waits when `timeout` passes."""
        deadline = time.monotonic() + timeout
        waiting: dict[str, int] = {}
        while time.monotonic() < deadline:
            depths = await asyncio.to_thread(self.queue_depths)
            waiting = {
                name: count
                for name, count in depths.items()
                if count
                and not name.endswith(".dlq")
                and not name.startswith(("lre.sender.", "lre.unrouted", "amq."))
            }
            if not waiting:
                return {}
            await asyncio.sleep(1.0)
        return waiting

    async def take_dead_letters(self) -> list[DeadLetter]:
        """Empty every dead-letter queue; what each held."""
        depths = await asyncio.to_thread(self.queue_depths)
        taken: list[DeadLetter] = []
        connection = await aio_pika.connect(self.infra.rabbit.amqp_url)
        async with connection:
            channel = await connection.channel()
            for name, count in depths.items():
                if not name.endswith(".dlq") or not count:
                    continue
                queue = await channel.declare_queue(name, passive=True)
                while (message := await queue.get(no_ack=True, fail=False, timeout=30)) is not None:
                    headers = message.headers or {}
                    taken.append(
                        DeadLetter(
                            name,
                            message.message_id or "",
                            message.correlation_id or "",
                            str(headers.get("x-lre-dead-letter-reason", "")),
                        )
                    )
        return taken

    def command_bindings(self) -> list[tuple[str, str, str]]:
        """(exchange, routing key, queue) of every queue bound to a service's command exchange."""
        return [
            (b["source"], b["routing_key"], b["destination"])
            for b in self.infra.rabbit.api("bindings/%2F")
            if b["destination_type"] == "queue"
            and b["source"].startswith("lre.")
            and b["source"].endswith(".commands")
            and b["source"] != "lre.senders.commands"
        ]


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message_id: str
    letter_id: str
    reason: str


# ------------------------------------------------------------------ capture and replay


@dataclass(frozen=True)
class Captured:
    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    correlation_id: str | None
    headers: dict[str, Any]
    content_type: str | None


@dataclass
class Capture:
    """A queue of our own bound like every platform queue is (each events exchange with `#`,
    each command binding with its key), keeping a copy of everything the services exchange."""

    messages: list[Captured] = field(default_factory=list)
    connection: Any = None

    async def start(self, own: FaultPlatform) -> None:
        bindings: set[tuple[str, str]] = set()
        for b in await asyncio.to_thread(own.infra.rabbit.api, "bindings/%2F"):
            source = b["source"]
            if b["destination_type"] != "queue" or not source.startswith("lre.") or ".sender" in source:
                continue
            if source.endswith(".events"):
                bindings.add((source, "#"))
            elif source.endswith(".commands"):
                bindings.add((source, b["routing_key"]))
        self.connection = await aio_pika.connect(own.infra.rabbit.amqp_url)
        channel = await self.connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for exchange, key in sorted(bindings):
            await queue.bind(exchange, routing_key=key)
        await queue.consume(self._keep, no_ack=True)

    async def _keep(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        if message.exchange and message.message_id:
            self.messages.append(
                Captured(
                    message.exchange,
                    message.routing_key or "",
                    message.body,
                    message.message_id,
                    message.correlation_id,
                    dict(message.headers or {}),
                    message.content_type,
                )
            )

    async def stop(self) -> None:
        if self.connection is not None:
            await self.connection.close()
            self.connection = None

    async def replay(self, amqp_url: str) -> int:
        """Publish every message captured so far again, same id and bytes: what a broker's
        redelivery, a relay publishing twice or a replayed dead letter delivers."""
        copies = list(self.messages)
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}
            for copy in copies:
                if copy.exchange not in exchanges:
                    exchanges[copy.exchange] = await channel.get_exchange(copy.exchange, ensure=False)
                await exchanges[copy.exchange].publish(
                    aio_pika.Message(
                        copy.body,
                        message_id=copy.message_id,
                        correlation_id=copy.correlation_id,
                        headers=copy.headers,
                        content_type=copy.content_type,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        user_id="guest",
                    ),
                    routing_key=copy.routing_key,
                )
        return len(copies)


# ------------------------------------------------------------------------ the run


@dataclass
class FaultResult:
    fault: str
    letters: int
    check: Check
    seconds: float
    resent: int
    dead_letters: list[DeadLetter]
    poison: list[str]  # message ids injected
    undrained: dict[str, int]
    died: list[str]
    replayed: int = 0
    notes: list[str] = field(default_factory=list)
    driver_failures: list[str] = field(default_factory=list)

    @property
    def unexpected_dead_letters(self) -> list[DeadLetter]:
        return [d for d in self.dead_letters if d.message_id not in set(self.poison)]

    @property
    def poison_dead_lettered(self) -> int:
        ids = {d.message_id for d in self.dead_letters}
        return sum(p in ids for p in self.poison)

    @property
    def doubled_notices(self) -> int:
        return self.check.doubled - self.resent

    @property
    def ok(self) -> bool:
        return (
            self.check.lost == 0
            and self.doubled_notices == 0
            and self.check.broken_chains == 0
            and not self.unexpected_dead_letters
            and self.poison_dead_lettered == len(self.poison)
            and not self.undrained
            and not self.died
            and not self.driver_failures
        )

    def result_line(self) -> str:
        return (
            f"RESULT fault={self.fault} letters={self.letters} lost={self.check.lost}"
            f" doubled={self.check.doubled} resent={self.resent}"
            f" dlq_unexpected={len(self.unexpected_dead_letters)} replayed={self.replayed}"
            f" poison={self.poison_dead_lettered}/{len(self.poison)} seconds={self.seconds:.0f}"
        )

    def report(self) -> str:
        lines = [self.result_line(), "  " + self.check.summary(), *("  " + n for n in self.notes)]
        lines += [f"  driver: {f}" for f in self.driver_failures[:10]]
        lines += [f"  {p}" for p in self.check.problems if not p.startswith("driver:")][:30]
        lines += [f"  dead letter not injected: {d}" for d in self.unexpected_dead_letters[:10]]
        if self.undrained:
            lines.append(f"  queues not drained: {self.undrained}")
        if self.died:
            lines.append(f"  services that died by themselves: {self.died}")
        return "\n".join(lines)


async def _finals(own: FaultPlatform) -> int:
    """Letters of any run that reached their final record (the signer's journal)."""
    conn = await asyncpg.connect(own.target.stores.database_urls["signer"], timeout=5)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM evidence WHERE event = ANY($1::text[])", list(FINAL.values())
        )
        return count
    finally:
        await conn.close()


# An action waits for its moment (`at`: the share of the run done, 0..1), then does its harm.
Action = Callable[[FaultPlatform, "RunContext", float], Awaitable[None]]


@dataclass
class RunContext:
    settings: Settings
    mails_before: int
    finals_before: int
    letters: list[Letter] = field(default_factory=list)  # what the run sends
    poison: list[str] = field(default_factory=list)
    capture: Capture | None = None
    replayed: int = 0  # dead letters an operator had to replay (lre-dlq) for the run to end
    poisoned_queues: set[str] = field(default_factory=set)
    smtp_refusing: bool = False  # until the refusal's dead letters are replayed
    notes: list[str] = field(default_factory=list)

    async def reached(self, own: FaultPlatform, share: float, timeout: float = 900.0) -> None:
        """Wait until the run is `share` (0..1) done: half for notices in the catcher, half
        for letters at their final record."""
        wanted = self.settings.letters
        deadline = time.monotonic() + timeout
        finals = self.finals_before
        while time.monotonic() < deadline:
            notices = min(wanted, len(own.infra.smtp.store.mails) - self.mails_before)
            with contextlib.suppress(Exception):  # the store may be the part that is down
                finals = await _finals(own)
            if 0.5 * notices / wanted + 0.5 * min(wanted, finals - self.finals_before) / wanted >= share:
                return
            await asyncio.sleep(0.5)


async def _down(settings: Settings) -> None:
    await asyncio.sleep(settings.window)


def _restart(part: str, hard: bool) -> Action:
    async def action(own: FaultPlatform, ctx: RunContext, at: float) -> None:
        await ctx.reached(own, at)
        parts: dict[str, PrivateRabbit | PrivatePostgres | PrivateSeaweed] = {
            "rabbitmq": own.infra.rabbit,
            "postgres": own.infra.postgres,
            "s3": own.infra.seaweed,
        }
        target = parts[part]
        started = time.monotonic()
        await asyncio.to_thread(target.kill if hard else target.stop)
        await _down(ctx.settings)
        await asyncio.to_thread(target.start)
        ctx.notes.append(
            f"{part} {'killed' if hard else 'stopped'} and back in {time.monotonic() - started:.1f} s"
        )

    return action


def _kill(services: tuple[str, ...]) -> Action:
    async def action(own: FaultPlatform, ctx: RunContext, at: float) -> None:
        for index, service in enumerate(services):
            # Spread from `at` to near the end: each service dies at a different phase.
            await ctx.reached(own, at + (0.85 - at) * index / len(services))
            started = time.monotonic()
            await asyncio.to_thread(own.kill_service, service)
            await _down(ctx.settings)
            await asyncio.to_thread(own.start_service, service)
            ctx.notes.append(f"{service} SIGKILLed and ready again in {time.monotonic() - started:.1f} s")

    return action


async def _smtp_refusal(own: FaultPlatform, ctx: RunContext, at: float) -> None:
    """The mail server refuses for a while; then, as an operator does once it is back
    (docs/OPERATIONS.md, "Dead letters"), what the notifier dead-lettered meanwhile is
    replayed with `lre-dlq`. A transient failure is retried by the bus for five deliveries
    with back-off (3 to 19 s in all): a longer refusal dead-letters the notices it holds."""
    await ctx.reached(own, at)
    before = own.infra.smtp.refused
    ctx.smtp_refusing = True
    own.infra.smtp.refuse_for(ctx.settings.smtp_seconds)
    await asyncio.sleep(ctx.settings.smtp_seconds)
    ctx.notes.append(
        f"the mail server refused {own.infra.smtp.refused - before} recipients (451)"
        f" for {ctx.settings.smtp_seconds:.0f} s"
    )
    await asyncio.sleep(15.0)  # the last back-offs of deliveries refused at the end
    depths = await asyncio.to_thread(own.queue_depths)
    for name, count in sorted(depths.items()):
        if name.startswith("notifier.") and name.endswith(".dlq") and count:
            moved = await dlq.replay(own.infra.rabbit.amqp_url, name.removesuffix(".dlq"), replay_all=True)
            ctx.replayed += len(moved)
            ctx.notes.append(
                f"{len(moved)} messages of {name} dead-lettered during the refusal"
                f" ({moved[0].reason if moved else ''}), replayed with lre-dlq"
            )
    ctx.smtp_refusing = False


async def _duplicates(own: FaultPlatform, ctx: RunContext, at: float) -> None:
    assert ctx.capture is not None
    total = 0
    for share in (at, 0.85):
        await ctx.reached(own, share)
        total += await ctx.capture.replay(own.infra.rabbit.amqp_url)
    await ctx.capture.stop()
    ctx.notes.append(f"{total} messages published a second time (same message_id and bytes)")


async def _poison(own: FaultPlatform, ctx: RunContext, at: float) -> None:
    await ctx.reached(own, at)
    bindings = await asyncio.to_thread(own.command_bindings)
    connection = await aio_pika.connect(own.infra.rabbit.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        poisoned: set[str] = set()
        for exchange, key, queue in bindings:
            if queue in poisoned:
                continue  # a queue bound under several keys takes one
            poisoned.add(queue)
            ctx.poisoned_queues.add(queue)
            # Not a UUID: no subscriber can answer it (`refuse`), it is dead-lettered.
            poison_id = f"poison-{queue}-{secrets.token_hex(3)}"
            target = await channel.get_exchange(exchange, ensure=False)
            await target.publish(
                aio_pika.Message(
                    b'{"letter": "not one", "message_id": 12}',
                    message_id=poison_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    user_id="guest",
                ),
                routing_key=key,
            )
            ctx.poison.append(poison_id)
    ctx.notes.append(f"{len(ctx.poison)} malformed messages, one on each command queue")


async def _watch_dead_letters(own: FaultPlatform, ctx: RunContext, driving: asyncio.Task[Any]) -> None:
    """End the run early when a message nobody injected is dead-lettered: its letter will
    not settle before the driver's timeout (many minutes), and the dead letter says why.
    The notifier's are left to the SMTP refusal, which replays them as an operator would."""
    while not driving.done():
        await asyncio.sleep(3.0)
        with contextlib.suppress(Exception):  # the broker may be the part that is down
            depths = await asyncio.to_thread(own.queue_depths)
            found = {
                name: count
                for name, count in depths.items()
                if name.endswith(".dlq")
                and count
                and name.removesuffix(".dlq") not in ctx.poisoned_queues
                and not (ctx.smtp_refusing and name.startswith("notifier."))
            }
            if found:
                await asyncio.sleep(20.0)  # what else the same cause dead-letters
                ctx.notes.append(f"run ended early: dead letters nobody injected {found}")
                driving.cancel()
                return


async def _in_turn(own: FaultPlatform, ctx: RunContext, actions: list[Action], moments: list[float]) -> None:
    for action, at in zip(actions, moments, strict=True):
        await action(own, ctx, at)


def action_for(fault: str) -> Action:
    if fault in ("rabbitmq-restart", "rabbitmq-kill", "postgres-restart", "postgres-kill", "s3-restart"):
        part, _, how = fault.partition("-")
        return _restart(part, how == "kill")
    if fault == "kill-each":
        return _kill(SERVICES)
    if fault.startswith("kill-") and fault.removeprefix("kill-") in SERVICES:
        return _kill((fault.removeprefix("kill-"),))
    if fault == "smtp-refusal":
        return _smtp_refusal
    if fault == "duplicates":
        return _duplicates
    if fault == "poison":
        return _poison
    raise ValueError(f"unknown fault {fault!r}")


async def run_fault(own: FaultPlatform, fault: str, settings: Settings) -> FaultResult:
    """One run of the journey with `fault` applied (`a+b+c`: each in turn, spread over the
    run); judged once the broker has drained."""
    parts = fault.split("+")
    actions = [action_for(part) for part in parts]
    ctx = RunContext(settings, mails_before=len(own.infra.smtp.store.mails), finals_before=await _finals(own))
    if "duplicates" in parts:
        ctx.capture = Capture()
        await ctx.capture.start(own)
    plan = Plan(
        letters=settings.letters,
        visitors=min(24, max(4, settings.letters // 2)),
        timeout_seconds=600.0 + 4 * settings.letters,
        check_wait_seconds=300.0,
    )
    started = time.monotonic()
    # Made before the run: a run ended early is still judged on every letter it sent.
    ctx.letters = letters_of(plan)
    driving = asyncio.create_task(run_journey(own.target, plan, letters=ctx.letters, log=False))
    # The first at once (an SMTP refusal from the first notice), the others spread out.
    moments = [0.0 if part == "smtp-refusal" else 0.15 + 0.6 * i / len(parts) for i, part in enumerate(parts)]
    faulting = asyncio.create_task(_in_turn(own, ctx, actions, moments))
    watching = asyncio.create_task(_watch_dead_letters(own, ctx, driving))
    journey: Journey | None = None
    with contextlib.suppress(asyncio.CancelledError):
        journey = await driving
    watching.cancel()
    if journey is not None and not faulting.done():
        # The run ended before the fault's moment (a short run on a fast machine): it
        # still happens, and the second judgement below sees its consequences.
        ctx.notes.append("the fault came after the journey's last letter")
    if journey is None:
        faulting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await faulting
    if ctx.capture is not None:
        await ctx.capture.stop()
    seconds = time.monotonic() - started
    if journey is not None and journey.retried_requests:
        ctx.notes.append(f"recipients tried {journey.retried_requests} requests again (site down or erring)")
    undrained = await own.drained(timeout=300.0 if journey is not None else 30.0)
    letters = ctx.letters
    wait = 120.0 if journey is not None else 10.0
    final = await check(own.target.stores, letters, wait_seconds=wait) if letters else Check()
    dead = await own.take_dead_letters()
    problems = journey.check.problems if journey is not None else []
    driver_failures = [p.removeprefix("driver: ") for p in problems if p.startswith("driver:")]
    resent = sum(
        int(p.split(" received ")[1].split(" times")[0]) - 1
        for p in final.problems
        if " doubled: email " in p and " received " in p
    )
    return FaultResult(
        fault=fault,
        letters=len(letters) or settings.letters,
        check=final,
        seconds=seconds,
        resent=resent,
        dead_letters=dead,
        poison=ctx.poison,
        undrained=undrained,
        died=own.services_alive(),
        replayed=ctx.replayed,
        notes=ctx.notes,
        driver_failures=driver_failures,
    )


async def _ready(own: FaultPlatform) -> None:
    """Every service answers its readiness probe (after a fault, before the next run)."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        for service in SERVICES:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (
                        await client.get(f"http://127.0.0.1:{own.running.port(service)}/health/ready")
                    ).is_success:
                        break
                await asyncio.sleep(0.5)


async def run_faults(own: FaultPlatform, faults: tuple[str, ...], settings: Settings) -> list[FaultResult]:
    results = []
    for fault in faults:
        await _ready(own)
        result = await run_fault(own, fault, settings)
        print(result.report(), flush=True)
        results.append(result)
    return results


def main() -> int:
    """`make faults`: every fault (LRE_FAULT_MODE=long unless told), one run each."""
    import tempfile

    os.environ.setdefault("LRE_FAULT_MODE", "long")
    settings = Settings.from_env()
    only = tuple(a for a in sys.argv[1:] if not a.startswith("-")) or settings.faults
    workdir = Path(tempfile.mkdtemp(prefix="lre-faults-"))
    print(f"fault runs: {', '.join(only)}; {settings.letters} letters each; logs in {workdir}", flush=True)
    with FaultPlatform.started(workdir) as own:
        results = asyncio.run(run_faults(own, only, settings))
    print("\n".join(r.result_line() for r in results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
