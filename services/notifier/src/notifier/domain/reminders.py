"""Reminders (relances): every few days until the recipient decides or the window ends.

DESIGN §2 step 1: reminders every 3 days (configurable) until a decision, with a link
that stops them. The last reminder goes no later than the last day of the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from lre_shared.contracts import NoticeChannel
from lre_shared.rules import FR_LRE
from notifier.domain.notice import Language

# The notifier follows the French profile (the only one): its window and its local time.
PARIS = FR_LRE.timezone


def next_reminder(after: datetime, every: timedelta, deadline: date) -> datetime | None:
    """When to remind next, `every` after `after`; None once that falls past the deadline."""
    due = after + every
    return due if due < FR_LRE.window_closes_at(deadline) else None


@dataclass(frozen=True)
class ReminderSchedule:
    """A letter's reminders: where they go (the channels of its first notice), in which
    language, when the next one falls, and the token of the link that stops them."""

    letter_id: UUID
    item_number: str
    address: str
    language: Language
    deadline: date
    next_at: datetime | None
    opt_out_token: str
    channels: tuple[NoticeChannel, ...] = (NoticeChannel.email,)
    phone: str | None = None
    landline: str | None = None
    fax: str | None = None
