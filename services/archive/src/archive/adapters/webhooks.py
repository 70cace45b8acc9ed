"""Webhooks' I/O: their records in PostgreSQL, name resolution, and the HTTP call itself."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from archive.adapters.webhook_secrets import SecretBox
from archive.domain.webhooks import UrlPolicy, UrlRefused
from archive.service_layer.webhooks import (
    Attempt,
    DueDelivery,
    Endpoint,
    LoggedDelivery,
    Resolver,
    WebhookStore,
    WebhookUnits,
    check_url,
)
from lre_shared.contracts import SenderEvent
from lre_shared.units import PgRepository, fetch_all

EXCERPT_BYTES = 200  # of the receiver's answer, for the log: never its whole body
ERROR_CHARS = 500

ENDPOINT = "SELECT sender_id, url, secret, previous_secret, previous_until FROM webhook_endpoints"


@dataclass(frozen=True)
class PgWebhooks(PgRepository):
    """The webhook records; the endpoints' secrets sealed by `box` as they are written, and
    opened as they are read (`archive.adapters.webhook_secrets`)."""

    box: SecretBox

    def _endpoint(self, row: Mapping[str, Any]) -> Endpoint:
        sender_id = row["sender_id"]
        previous = row["previous_secret"]
        return Endpoint(
            sender_id,
            row["url"],
            self.box.open(sender_id, row["secret"]),
            None if previous is None else self.box.open(sender_id, previous),
            row["previous_until"],
        )

    async def endpoint(self, sender_id: str) -> Endpoint | None:
        row = await self.conn.fetchrow(ENDPOINT + " WHERE sender_id = $1", sender_id)
        return None if row is None else self._endpoint(row)

    async def seal_legacy(self) -> int:
        """Seal every secret still stored in plain text (from before their encryption), and
        check the key opens the others: all rows locked, in the caller's transaction; how
        many rows were sealed (none the second time)."""
        rows = await self.conn.fetch(
            "SELECT sender_id, secret, previous_secret FROM webhook_endpoints ORDER BY sender_id FOR UPDATE"
        )
        sealed = 0
        for row in rows:
            stored = [row["secret"], row["previous_secret"]]
            kept = [self._sealed(row["sender_id"], value) for value in stored]
            if kept != stored:
                await self.conn.execute(
                    "UPDATE webhook_endpoints SET secret = $2, previous_secret = $3 WHERE sender_id = $1",
                    row["sender_id"],
                    *kept,
                )
                sealed += 1
        return sealed

    def _sealed(self, sender_id: str, value: str | None) -> str | None:
        """A plain `value` sealed; a sealed one kept, once the key has opened it (or raised)."""
        if value is None:
            return None
        if self.box.is_sealed(value):
            self.box.open(sender_id, value)
            return value
        return self.box.seal(sender_id, value)

    async def save_endpoint(self, sender_id: str, url: str, secret: str, at: datetime) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO webhook_endpoints (sender_id, url, secret, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (sender_id) DO UPDATE"
            " SET url = EXCLUDED.url, updated_at = EXCLUDED.updated_at"
            " RETURNING xmax = 0",
            sender_id,
            url,
            self.box.seal(sender_id, secret),
            at,
        )
        return bool(inserted)

    async def rotate_secret(
        self, sender_id: str, secret: str, previous_until: datetime, at: datetime
    ) -> bool:
        done = await self.conn.fetchval(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $3,"
            " secret = $2, updated_at = $4 WHERE sender_id = $1 RETURNING true",
            sender_id,
            self.box.seal(sender_id, secret),
            previous_until,
            at,
        )
        return bool(done)

    async def remove_endpoint(self, sender_id: str, at: datetime) -> bool:
        removed = await self.conn.fetchval(
            "DELETE FROM webhook_endpoints WHERE sender_id = $1 RETURNING true", sender_id
        )
        await self.conn.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = NULL, failed_at = $2,"
            " last_error = 'endpoint removed' WHERE sender_id = $1 AND next_attempt_at IS NOT NULL",
            sender_id,
            at,
        )
        return bool(removed)

    async def add_delivery(self, event: SenderEvent, body: bytes, at: datetime) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO webhook_deliveries (sender_id, event_id, event, letter_id, body, created_at,"
            " next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $6)"
            " ON CONFLICT DO NOTHING RETURNING true",
            event.sender_id,
            event.message_id,
            event.event.value,
            event.correlation_id,
            body,
            at,
        )
        return bool(inserted)

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[DueDelivery]:
        # Several replicas claim at once: each skips the rows another holds. The attempt is
        # counted, and the row held for `lease`, before any call is made.
        rows = await self.conn.fetch(
            "WITH due AS (SELECT d.sender_id, d.event_id FROM webhook_deliveries d"
            " JOIN webhook_endpoints e USING (sender_id) WHERE d.next_attempt_at <= $1"
            " ORDER BY d.next_attempt_at LIMIT $2 FOR UPDATE OF d SKIP LOCKED)"
            " UPDATE webhook_deliveries w SET attempts = w.attempts + 1, last_attempt_at = $1,"
            " next_attempt_at = $1 + $3::interval FROM due, webhook_endpoints e"
            " WHERE w.sender_id = due.sender_id AND w.event_id = due.event_id"
            " AND e.sender_id = w.sender_id"
            " RETURNING w.event_id, w.event, w.body, w.created_at, w.attempts,"
            " e.sender_id, e.url, e.secret, e.previous_secret, e.previous_until",
            now,
            limit,
            lease,
        )
        return [
            DueDelivery(
                row["event_id"],
                row["event"],
                bytes(row["body"]),
                row["created_at"],
                row["attempts"],
                self._endpoint(row),
            )
            for row in rows
        ]

    async def record_delivered(self, sender_id: str, event_id: UUID, status: int, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE webhook_deliveries SET delivered_at = $3, last_status = $4, last_error = NULL,"
            " next_attempt_at = NULL WHERE sender_id = $1 AND event_id = $2",
            sender_id,
            event_id,
            at,
            status,
        )

    async def record_failure(
        self,
        sender_id: str,
        event_id: UUID,
        attempt: Attempt,
        next_attempt_at: datetime | None,
        at: datetime,
    ) -> None:
        error = attempt.error or f"HTTP {attempt.status}: {attempt.excerpt}".rstrip(": ")
        await self.conn.execute(
            "UPDATE webhook_deliveries SET last_status = $3, last_error = $4, next_attempt_at = $5,"
            " failed_at = CASE WHEN $5::timestamptz IS NULL THEN $6::timestamptz END"
            " WHERE sender_id = $1 AND event_id = $2 AND delivered_at IS NULL",
            sender_id,
            event_id,
            attempt.status,
            error[:ERROR_CHARS],
            next_attempt_at,
            at,
        )

    async def oldest_pending(self) -> datetime | None:
        oldest: datetime | None = await self.conn.fetchval(
            "SELECT min(created_at) FROM webhook_deliveries WHERE next_attempt_at IS NOT NULL"
        )
        return oldest

    async def log(self, sender_id: str, limit: int) -> list[LoggedDelivery]:
        return await fetch_all(
            self.conn,
            LoggedDelivery,
            "SELECT event_id, event, letter_id, created_at, attempts, last_status, last_error,"
            " next_attempt_at, delivered_at, failed_at FROM webhook_deliveries"
            " WHERE sender_id = $1 ORDER BY created_at DESC, event_id LIMIT $2",
            sender_id,
            limit,
        )


def webhook_units(pool: Callable[[], asyncpg.Pool], box: SecretBox) -> WebhookUnits:
    """Units of work of their own on the webhook records, from the pool `pool()` gives."""

    @asynccontextmanager
    async def unit() -> AsyncIterator[WebhookStore]:
        async with pool().acquire() as conn, conn.transaction():
            yield PgWebhooks(conn, box)

    return unit


class DnsResolver:
    """The addresses a host name stands for, as the system resolver gives them."""

    async def addresses(self, host: str, port: int) -> list[str]:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise UrlRefused(f"{host} does not resolve: {exc.strerror}") from None
        return sorted({str(info[4][0]) for info in found})


class HttpPoster:
    """POSTs a signed delivery with httpx: no redirect followed (a 3xx is a failure, as the
    URL must be the endpoint itself), a timeout for the whole call, and the receiver's
    addresses checked again right before each call (a name that moved to a private address
    since it was registered is refused)."""

    def __init__(self, policy: UrlPolicy, resolver: Resolver, timeout_seconds: float) -> None:
        self._policy = policy
        self._resolver = resolver
        self._timeout = timeout_seconds
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self._timeout),
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
                headers={"user-agent": "lre-webhooks/1"},
                trust_env=False,
            )
        return self._client

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Attempt:
        started = time.monotonic()
        try:
            await check_url(url, self._policy, self._resolver)
        except UrlRefused as exc:
            return Attempt(None, f"refused: {exc}")
        try:
            async with asyncio.timeout(self._timeout):
                async with self._http().stream("POST", url, content=body, headers=headers) as response:
                    excerpt = b""
                    async for chunk in response.aiter_raw():
                        excerpt += chunk
                        if len(excerpt) >= EXCERPT_BYTES:
                            break
        except TimeoutError:
            return Attempt(None, f"no answer within {self._timeout:g} s", seconds=time.monotonic() - started)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            return Attempt(
                None, f"{type(exc).__name__}: {reason}"[:ERROR_CHARS], seconds=time.monotonic() - started
            )
        text = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace").replace("\n", " ")
        return Attempt(response.status_code, None, text, time.monotonic() - started)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
