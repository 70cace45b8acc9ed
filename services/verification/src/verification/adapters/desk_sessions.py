"""Console sessions and sign-ins under way in PostgreSQL (`desk_sign_ins`, `desk_sessions`),
each row under the SHA-256 of its secret. Each statement commits alone, on the pool."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from lre_shared.units import columns, fetch_one, insert
from verification.domain.desk_sessions import SIGN_IN_WINDOW, PendingSignIn, StaffSession


def _session(**values: Any) -> StaffSession:
    return StaffSession(**values | {"roles": frozenset(values["roles"])})


class PgSessionStore:
    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        self._pool = pool  # read when first used: the pool exists once the service started

    async def add_sign_in(self, state_hash: bytes, sign_in: PendingSignIn) -> None:
        await insert(self._pool(), "desk_sign_ins", {"state_hash": state_hash, **columns(sign_in)})

    async def take_sign_in(self, state_hash: bytes) -> PendingSignIn | None:
        return await fetch_one(
            self._pool(),
            PendingSignIn,
            "DELETE FROM desk_sign_ins WHERE state_hash = $1"
            " RETURNING nonce, code_verifier, next_path, started_at",
            state_hash,
        )

    async def add(self, session_hash: bytes, session: StaffSession) -> None:
        # Its roles in their place among the columns, as a sorted array.
        row = {"session_hash": session_hash, **columns(session), "roles": sorted(session.roles)}
        await insert(self._pool(), "desk_sessions", row)

    async def get(self, session_hash: bytes) -> StaffSession | None:
        return await fetch_one(
            self._pool(),
            _session,
            "SELECT subject, name, roles, csrf_token, id_token, signed_in_at, last_seen_at, ends_at"
            " FROM desk_sessions WHERE session_hash = $1",
            session_hash,
        )

    async def touch(self, session_hash: bytes, now: datetime) -> None:
        await self._pool().execute(
            "UPDATE desk_sessions SET last_seen_at = greatest(last_seen_at, $2) WHERE session_hash = $1",
            session_hash,
            now,
        )

    async def remove(self, session_hash: bytes) -> None:
        await self._pool().execute("DELETE FROM desk_sessions WHERE session_hash = $1", session_hash)

    async def remove_ended(self, now: datetime, idle: timedelta) -> int:
        pool = self._pool()
        await pool.execute("DELETE FROM desk_sign_ins WHERE started_at <= $1", now - SIGN_IN_WINDOW)
        status: str = await pool.execute(
            "DELETE FROM desk_sessions WHERE ends_at <= $1 OR last_seen_at <= $2", now, now - idle
        )
        return int(status.rpartition(" ")[2] or 0)
