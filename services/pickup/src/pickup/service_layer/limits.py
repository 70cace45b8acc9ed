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

from pickup.service_layer.ports import Storage


class Guess(StrEnum):
    item_number = "item_number"
    identity = "identity"
    code = "code"


@dataclass(frozen=True)
class AddressLimits:
    max_failures: int
    window: timedelta
    lockout: timedelta


async def locked_until(storage: Storage, kind: Guess, address: str, now: datetime) -> datetime | None:
    """When the address may try again, if it is locked now."""
    return await storage.address_failures.locked_until(str(kind), address, now)


async def record_failure(
    storage: Storage, kind: Guess, address: str, limits: AddressLimits, now: datetime
) -> datetime | None:
    """Count a wrong answer from `address`; returns the end of the lockout it triggered, if any."""
    async with storage.unit_of_work() as uow:
        failures = await uow.address_failures.count(str(kind), address, now, limits.window)
        if failures < limits.max_failures:
            return None
        until = now + limits.lockout
        await uow.address_failures.lock(str(kind), address, now, until)
        return until
