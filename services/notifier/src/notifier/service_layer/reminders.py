"""Reminders (relances): scheduled when the first notice goes out, sent every few days
until the recipient decides (pickup's LetterAccepted / LetterRefused), opts out with the
link each reminder carries, or the window ends. Each due reminder is a round of `SendNotice`
of kind `reminder`, one a channel of the letter (email and the alerts its sender asked for,
lre_shared.notices), queued through the outbox so it gets the same delivery and fallback.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from lre_shared.contracts import (
    LetterAccepted,
    LetterLanguageChanged,
    LetterRefused,
    Message,
    NoticeKind,
    SendNotice,
)
from lre_shared.notices import asked_channels, per_channel
from notifier.domain.reminders import ReminderSchedule, next_reminder
from notifier.service_layer.ports import UnitOfWork

OPT_OUT_PATH = "/reminders/opt-out/"

# What each reminder carries over from the letter's first notice: where it goes, in which
# language (until the recipient changes it), about which letter and until when.
CARRIED_OVER = {"item_number", "address", "language", "deadline", "phone", "landline", "fax"}


def opt_out_link(base_url: str | None, token: str) -> str | None:
    return base_url.rstrip("/") + OPT_OUT_PATH + token if base_url else None


async def schedule(uow: UnitOfWork, command: SendNotice, sent_at: datetime, every: timedelta) -> None:
    await uow.reminders.add(
        ReminderSchedule(
            letter_id=command.correlation_id,
            next_at=next_reminder(sent_at, every, command.deadline),
            opt_out_token=secrets.token_urlsafe(24),
            # Reminders go on the letter's channels, as its first notice did.
            channels=asked_channels(command.channels),
            **command.model_dump(include=CARRIED_OVER),
        )
    )


def reminder(schedule: ReminderSchedule) -> SendNotice:
    """The reminder due on `schedule`, before it is split one command a channel."""
    return SendNotice(
        correlation_id=schedule.letter_id,
        kind=NoticeKind.reminder,
        channels=schedule.channels,
        **{name: getattr(schedule, name) for name in CARRIED_OVER},
    )


async def queue_due(uow: UnitOfWork, now: datetime, every: timedelta, limit: int = 100) -> int:
    """Queue a reminder for every schedule due at `now`; move each to its next date."""
    due = await uow.reminders.due(now, limit)
    for schedule in due:
        assert schedule.next_at is not None  # a due schedule has a date
        for command in per_channel(reminder(schedule)):  # one a channel, one round a reminder
            await uow.publish(command)
        following = next_reminder(schedule.next_at, every, schedule.deadline)
        await uow.reminders.reschedule(schedule.letter_id, following)
    return len(due)


async def stop_on_decision(event: LetterAccepted | LetterRefused, uow: UnitOfWork) -> Message | None:
    await uow.reminders.stop_on_decision(event.correlation_id)
    return None


async def on_language_changed(event: LetterLanguageChanged, uow: UnitOfWork) -> Message | None:
    await uow.reminders.change_language(event.correlation_id, event.language)
    return None


async def known(uow: UnitOfWork, token: str) -> bool:
    """Whether `token` is the opt-out token of a letter's reminders (stopped or not)."""
    return await uow.reminders.known(token)


async def opt_out(uow: UnitOfWork, token: str) -> bool:
    """Stop the reminders of the letter whose link carries `token`; False if unknown."""
    return await uow.reminders.opt_out(token)
