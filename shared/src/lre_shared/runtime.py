"""The life of a service process: the FastStream application every service's
`create_app()` returns, with its database, bus, health endpoints and shutdown order.

Start: logging → database created and migrated → pool → broker connected, exchanges and
dead-letter queues declared, outbox relay started → subscribers consume → ready.
Stop: subscribers stop and in-flight messages finish → relay stops → pool closes →
buffered trace spans are flushed.

Every HTTP request but the probes and the scrapes runs in an OpenTelemetry SERVER span
that continues the caller's W3C `traceparent`, if any (`lre_shared.tracing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry.trace import SpanKind, Status, StatusCode

from lre_shared import background, db, metrics, tracing
from lre_shared.bus import Bus
from lre_shared.logs import configure_logging
from lre_shared.settings import ServiceSettings

log = logging.getLogger(__name__)

Hook = Callable[[asyncpg.Pool], Awaitable[None]]

READY_CHECK_SECONDS = 2.0


class PeriodicTask:
    """Work a service repeats in the background while it runs (sweeping, archiving,
    queueing reminders). A failed run is logged and the next run tries again: the work
    must be idempotent, since a run can also be cut short by a stop."""

    def __init__(
        self, name: str, run: Callable[[asyncpg.Pool], Awaitable[object]], every_seconds: float
    ) -> None:
        self.name = name
        self._run = run
        self._every = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self, pool: asyncpg.Pool) -> None:
        self._task = asyncio.create_task(self._loop(pool), name=self.name)

    async def stop(self) -> None:
        await background.cancel(self._task)
        self._task = None

    async def _loop(self, pool: asyncpg.Pool) -> None:
        while True:
            if pool.is_closing():
                # The service is stopping (or a caller forgot `stop`): nothing left to work with.
                log.info("%s stops: the database pool is closed", self.name)
                return
            try:
                await self._run(pool)
            except Exception:
                log.exception("%s failed; trying again at the next run", self.name)
            await asyncio.sleep(self._every)


@dataclass
class ServiceRuntime:
    """What a running service holds; handed to the hooks and the HTTP routes."""

    bus: Bus
    migrations: Path
    on_started: Sequence[Hook] = ()
    on_stopping: Sequence[Callable[[], Awaitable[None]]] = ()
    ready: bool = False
    _pool: asyncpg.Pool | None = field(default=None, repr=False)

    @property
    def settings(self) -> ServiceSettings:
        return self.bus.settings

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the service is not started")
        return self._pool

    async def startup(self) -> None:
        url = self.settings.database_url.get_secret_value()
        await db.migrate(url, self.migrations)
        self._pool = await db.create_pool(url, self.settings.db_pool_size)
        await self.bus.prepare(self._pool)
        for hook in self.on_started:
            await hook(self._pool)

    async def after_startup(self) -> None:
        self.ready = True
        log.info("ready", extra={"port": self.settings.http_port})

    async def shutdown(self) -> None:
        self.ready = False
        await self.bus.stop_consuming()
        for hook in self.on_stopping:
            await hook()

    async def after_shutdown(self) -> None:
        await self.bus.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        tracing.shutdown_tracing()

    async def is_ready(self) -> bool:
        return await self.not_ready() is None

    async def not_ready(self) -> str | None:
        """Why the service cannot take work now (None: it can), for the readiness probe's
        answer: each check has a deadline, so a silent database or broker is reported as
        such rather than holding the probe until it times out."""
        if not self.ready or self._pool is None:
            return "starting or stopping"
        try:
            async with asyncio.timeout(READY_CHECK_SECONDS):
                await self._pool.fetchval("SELECT 1")
        except TimeoutError:
            return f"database: no answer within {READY_CHECK_SECONDS:g} s"
        except Exception as exc:
            return f"database: {exc!r}"
        try:
            return await self.bus.broker_problem(READY_CHECK_SECONDS)
        except Exception as exc:
            return f"broker: {exc!r}"


# Probes and scrapes come every few seconds and say nothing about a letter: no spans.
UNTRACED_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})


class ServiceApp(AsgiFastStream):
    """A FastStream ASGI application that hands every HTTP path it does not route itself
    (it routes exact paths only) to the service's own web application, if any."""

    def __init__(self, *args: Any, site: ASGIApp | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self._route(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        with tracing.tracer().start_as_current_span(
            method,
            context=tracing.extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": str(scope["path"])},
        ) as span:

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self._route(scope, receive, send_traced)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.site is not None
            and scope["type"] == "http"
            and all(scope["path"] != path for path, _ in self.routes)
        ):
            await self.site(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def build_app(runtime: ServiceRuntime, site: ASGIApp | None = None) -> ServiceApp:
    settings = runtime.settings
    configure_logging(runtime.bus.service, settings.log_level)
    tracing.configure_tracing(runtime.bus.service, settings.traces_file)

    @get(include_in_schema=False)
    async def live(scope: Any) -> AsgiResponse:
        return AsgiResponse(b'{"status":"alive"}', 200, headers={"content-type": "application/json"})

    @get(include_in_schema=False)
    async def ready(scope: Any) -> AsgiResponse:
        reason = await runtime.not_ready()
        if reason is None:
            return AsgiResponse(b'{"status":"ready"}', 200, headers={"content-type": "application/json"})
        body = json.dumps({"status": "not ready", "reason": reason}).encode()
        return AsgiResponse(body, 503, headers={"content-type": "application/json"})

    token = settings.metrics_token.get_secret_value().encode() if settings.metrics_token else None

    @get(include_in_schema=False)
    async def prometheus(scope: Any) -> AsgiResponse:
        # A service reachable from outside (the pickup site, provider callbacks) shares its
        # port with /metrics: with a token configured, only the scraper that knows it reads them.
        if token is not None:
            presented = dict(scope.get("headers", [])).get(b"authorization", b"")
            if not hmac.compare_digest(presented, b"Bearer " + token):
                return AsgiResponse(b"", 401, headers={"www-authenticate": "Bearer"})
        # The broker's own count: messages it dead-lettered at the delivery limit too. Not
        # connected (starting, stopping, broker down): the last depths read stand.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3.0):
                await runtime.bus.refresh_dead_letter_depths()
        body, content_type = metrics.exposition()
        return AsgiResponse(body, 200, headers={"content-type": content_type})

    return ServiceApp(
        runtime.bus.broker,
        site=site,
        asgi_routes=[("/health/live", live), ("/health/ready", ready), ("/metrics", prometheus)],
        on_startup=[runtime.startup],
        after_startup=[runtime.after_startup],
        on_shutdown=[runtime.shutdown],
        after_shutdown=[runtime.after_shutdown],
    )


def serve(app: AsgiFastStream, settings: ServiceSettings, *, reads_forwarded_for: bool = False) -> None:
    """Run `app` under uvicorn. With `reads_forwarded_for`, the app finds the client address
    itself, reading X-Forwarded-For only from the proxies its settings trust (limits per
    address depend on it): uvicorn must not rewrite the peer from that header first, as it
    would for a peer on 127.0.0.1 by default, unless FORWARDED_ALLOW_IPS says otherwise."""
    import uvicorn

    forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "") if reads_forwarded_for else None

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again so the process
    # dies of it; once the shutdown is complete that second SIGTERM is ignored: the stop
    # asked for went well, and the process exits 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_graceful_shutdown=30,
    )
