"""Holds on an item after wrong answers, at the identity step or on the one-time code.

A lock that nobody can lift, or that anybody can set, would let a stranger who knows an
item number keep the recipient out until the 15-day window closes (CPCE R.53-3) and the
letter ends unclaimed. So every hold ends, the first ones soon, and a stranger alone
holds only themselves:

- **Per client address first.** Each client address has its own count of wrong answers
  on the item (an IPv6 address counts by its /64 network, which one subscriber holds).
  After `max_failures` wrong answers from one address, that address is held for the item;
  its count starts again from zero. Other addresses, the recipient's among them, are not.
- **Growing delays.** The n-th hold of an address lasts the n-th delay of the schedule,
  the last delay repeating: by default 15 minutes, 1 hour, 4 hours, then 24 hours each
  time (pickup settings `LOCK_DELAYS_MINUTES`).
- **Item-wide only from several addresses.** When `hold_addresses` different addresses
  (3 by default) have each been held on the item since its last item-wide hold, the item is
  held for everyone, on its own schedule of the same delays. Guessing spread over many
  addresses is thus slowed down too, yet never for good.
- **Everything ends.** Once a hold is over, a right answer works; a supervisor may lift
  every hold of the item at once from the verification desk (`LiftLetterLock`).

Each kind of answer (identity, code) has its own holds. Nothing here does I/O: the service
layer reads the holds, asks `judge`, and writes the result in one conditional update.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from lre_shared.rules import FR_LRE

DEFAULT_DELAYS = tuple(timedelta(minutes=minutes) for minutes in FR_LRE.lock_delays_minutes)


@dataclass(frozen=True)
class HoldRules:
    max_failures: int  # wrong answers from one address before it is held for the item
    delays: tuple[timedelta, ...] = DEFAULT_DELAYS
    hold_addresses: int = 3  # addresses held before the item is held for everyone

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.hold_addresses < 1:
            raise ValueError("max_failures and hold_addresses must be at least 1")
        if not self.delays or any(d <= timedelta(0) for d in self.delays):
            raise ValueError("the delays must be positive, and at least one")

    def delay(self, holds_before: int) -> timedelta:
        """How long the next hold lasts, after `holds_before` holds: the schedule's delays in
        turn, then its last one each time."""
        return self.delays[min(holds_before, len(self.delays) - 1)]


def address_key(address: str) -> str:
    """The address the counts are kept for: itself for IPv4, its /64 network for IPv6 (one
    subscriber's share, which they may change addresses within at will)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class AddressHolds:
    failures: int = 0  # wrong answers since this address's last hold
    holds: int = 0  # holds of this address so far: the next one is longer
    until: datetime | None = None


@dataclass(frozen=True)
class Holds:
    """The holds of one kind on one item."""

    addresses: Mapping[str, AddressHolds] = field(default_factory=dict)
    held: frozenset[str] = frozenset()  # addresses held since the last item-wide hold
    holds: int = 0  # item-wide holds so far
    until: datetime | None = None  # end of the item-wide hold

    def held_until(self, address: str, now: datetime) -> datetime | None:
        """Until when `address` may not answer: the later of the item's and its own hold."""
        own = self.addresses.get(address_key(address), AddressHolds()).until
        ends = [until for until in (self.until, own) if until is not None and until > now]
        return max(ends, default=None)

    def latest(self) -> datetime | None:
        """The end of the latest hold, of the item or of any address."""
        ends = [self.until, *(a.until for a in self.addresses.values())]
        return max((e for e in ends if e is not None), default=None)

    # ------------------------------------------------------------------ storage

    def to_json(self) -> str:
        return json.dumps(
            {
                "addresses": {
                    key: {"failures": a.failures, "holds": a.holds, "until": _iso(a.until)}
                    for key, a in sorted(self.addresses.items())
                },
                "held": sorted(self.held),
                "holds": self.holds,
                "until": _iso(self.until),
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> Holds:
        data: dict[str, Any] = json.loads(text) if text else {}
        return cls(
            addresses={
                key: AddressHolds(a["failures"], a["holds"], _datetime(a["until"]))
                for key, a in data.get("addresses", {}).items()
            },
            held=frozenset(data.get("held", ())),
            holds=data.get("holds", 0),
            until=_datetime(data.get("until")),
        )


@dataclass(frozen=True)
class Hold:
    """A hold an answer started."""

    scope: Literal["address", "item"]
    until: datetime


@dataclass(frozen=True)
class Judgement:
    judged: bool  # False: a hold was in force, the answer was not looked at
    holds: Holds  # the holds after this answer
    held_until: datetime | None  # the hold in force for this address now, if any
    started: tuple[Hold, ...]  # holds this answer started
    left: int  # wrong answers this address has before its next hold


def judge(holds: Holds, address: str, wrong: bool, now: datetime, rules: HoldRules) -> Judgement:
    """An answer from `address`: refused unseen while a hold is in force; a wrong one counts,
    and may start a hold of the address and, from several held addresses, of the item."""
    key = address_key(address)
    mine = holds.addresses.get(key, AddressHolds())
    if until := holds.held_until(address, now):
        return Judgement(False, holds, until, (), rules.max_failures - mine.failures)
    if not wrong:
        return Judgement(True, holds, None, (), rules.max_failures - mine.failures)
    if mine.failures + 1 < rules.max_failures:
        mine = replace(mine, failures=mine.failures + 1)
        after = replace(holds, addresses={**holds.addresses, key: mine})
        return Judgement(True, after, None, (), rules.max_failures - mine.failures)
    mine = AddressHolds(failures=0, holds=mine.holds + 1, until=now + rules.delay(mine.holds))
    assert mine.until is not None
    started = [Hold("address", mine.until)]
    held = holds.held | {key}
    after = replace(holds, addresses={**holds.addresses, key: mine}, held=held)
    if len(held) >= rules.hold_addresses:
        item_until = now + rules.delay(holds.holds)
        after = replace(after, held=frozenset(), holds=holds.holds + 1, until=item_until)
        started.append(Hold("item", item_until))
    return Judgement(True, after, after.held_until(address, now), tuple(started), rules.max_failures)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _datetime(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
