"""The sender systems' API keys in PostgreSQL (`service_layer/api_keys.py`), and the failed
authentications per client address (`ports.AuthFailures`), each statement on a connection of
the pool, outside any message's transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import asyncpg

from archive.domain.api_keys import FailureLimit, FailureWindow
from archive.service_layer.api_keys import StoredKey

SELECT_KEYS = (
    "SELECT key_id, sender_id, prefix, key_sha256, label, created_at, last_used_at, revoked_at FROM api_keys"
)


class PgApiKeys:
    def __init__(self, pool: Callable[[], asyncpg.Pool | asyncpg.Connection]) -> None:
        self._pool = pool

    async def add(
        self, key_id: UUID, sender_id: str, prefix: str, key_sha256: str, label: str | None
    ) -> None:
        await self._pool().execute(
            "INSERT INTO api_keys (key_id, sender_id, prefix, key_sha256, label) VALUES ($1, $2, $3, $4, $5)",
            key_id,
            sender_id,
            prefix,
            key_sha256,
            label,
        )

    async def by_prefix(self, prefix: str) -> StoredKey | None:
        row = await self._pool().fetchrow(SELECT_KEYS + " WHERE prefix = $1", prefix)
        return None if row is None else StoredKey(**row)

    async def of_sender(self, sender_id: str) -> list[StoredKey]:
        rows = await self._pool().fetch(SELECT_KEYS + " WHERE sender_id = $1 ORDER BY created_at", sender_id)
        return [StoredKey(**row) for row in rows]

    async def revoke(self, key_id: UUID) -> bool:
        status = await self._pool().execute(
            "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL", key_id
        )
        return not str(status).endswith(" 0")

    async def used(self, key_id: UUID) -> None:
        # At most once a minute a key: a busy sender does not rewrite its row at every request.
        await self._pool().execute(
            "UPDATE api_keys SET last_used_at = now() WHERE key_id = $1"
            " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
            key_id,
        )

    async def letter_sender(self, letter_id: UUID) -> str | None:
        sender: str | None = await self._pool().fetchval(
            "SELECT sender_id FROM letters WHERE letter_id = $1", letter_id
        )
        return sender


# One statement: the row is locked from the conflict to the end, so failures counted at once
# by several replicas each see the others' (a closed window is reset, as `FailureLimit.counted`).
COUNT_FAILURE = """
INSERT INTO api_key_failures AS f (address, opened_at, failures) VALUES ($1, $2, 1)
ON CONFLICT (address) DO UPDATE SET
    opened_at = CASE WHEN f.opened_at <= $3 THEN excluded.opened_at ELSE f.opened_at END,
    failures = CASE WHEN f.opened_at <= $3 THEN 1 ELSE f.failures + 1 END
RETURNING opened_at, failures
"""


class PgAuthFailures:
    def __init__(self, pool: Callable[[], asyncpg.Pool | asyncpg.Connection]) -> None:
        self._pool = pool

    async def window(self, address: str) -> FailureWindow | None:
        row = await self._pool().fetchrow(
            "SELECT opened_at, failures FROM api_key_failures WHERE address = $1", address
        )
        return None if row is None else FailureWindow(**row)

    async def count(self, address: str, now: datetime, limit: FailureLimit) -> FailureWindow:
        row = await self._pool().fetchrow(COUNT_FAILURE, address, now, now - limit.window)
        return FailureWindow(**row)

    async def forget(self, before: datetime) -> int:
        status = await self._pool().execute("DELETE FROM api_key_failures WHERE opened_at <= $1", before)
        return int(str(status).split()[-1])
