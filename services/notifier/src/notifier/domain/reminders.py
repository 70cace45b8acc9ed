"""Reminders (relances): every few days until the recipient decides or the window ends.

DESIGN §2 step 1: reminders every 3 days (configurable) until a decision, with a link
that stops them. The last reminder goes no later than the last day of the window.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def next_reminder(after: datetime, every: timedelta, deadline: date) -> datetime | None:
    """When to remind next, `every` after `after`; None once that falls past the deadline."""
    due = after + every
    end_of_window = datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=PARIS)
    return due if due < end_of_window else None
