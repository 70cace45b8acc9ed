"""The platform's one notion of "now": every service reads the time through a `Clock`, so
that tests (and the load driver) can move it without patching the standard library."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

# A clock is any function returning an aware UTC datetime; `now_utc` is the real one.
Clock = Callable[[], datetime]


def now_utc() -> datetime:
    return datetime.now(UTC)
