"""Wrong answers per client address: item numbers, identities and codes.

Each item also has its own limits (identity tries, code tries, kept on the letter); these
limits stop one address from guessing across many items. Past `max_failures` wrong answers
of one kind within `window`, the address is locked for that kind until `lockout` has passed,
and even right answers are refused meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import asyncpg


class Guess(StrEnum):
    item_number = "item_number"
    identity = "identity"
    code = "code"


@dataclass(frozen=True)
class AddressLimits:
    max_failures: int
    window: timedelta
    lockout: timedelta


async def locked_until(pool: asyncpg.Pool, kind: Guess, address: str, now: datetime) -> datetime | None:
    """When the address may try again, if it is locked now."""
    until: datetime | None = await pool.fetchval(
        "SELECT locked_until FROM address_failures WHERE kind = $1 AND address = $2 AND locked_until > $3",
        str(kind),
        address,
        now,
    )
    return until


async def record_failure(
    pool: asyncpg.Pool, kind: Guess, address: str, limits: AddressLimits, now: datetime
) -> datetime | None:
    """Count a wrong answer from `address`; returns the end of the lockout it triggered, if any."""
    async with pool.acquire() as conn, conn.transaction():
        failures: int = await conn.fetchval(
            "INSERT INTO address_failures (kind, address, failures, window_start) VALUES ($1, $2, 1, $3)"
            " ON CONFLICT (kind, address) DO UPDATE SET"
            " failures = CASE WHEN address_failures.window_start + $4 <= $3 THEN 1"
            "   ELSE address_failures.failures + 1 END,"
            " window_start = CASE WHEN address_failures.window_start + $4 <= $3 THEN $3"
            "   ELSE address_failures.window_start END"
            " RETURNING failures",
            str(kind),
            address,
            now,
            limits.window,
        )
        if failures < limits.max_failures:
            return None
        until = now + limits.lockout
        await conn.execute(
            "UPDATE address_failures SET failures = 0, window_start = $3, locked_until = $4"
            " WHERE kind = $1 AND address = $2",
            str(kind),
            address,
            now,
            until,
        )
        return until
