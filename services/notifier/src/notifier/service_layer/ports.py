"""What the notifier's use cases ask of the outside world, in the notifier's words: the
providers that reach a recipient, and the store.

The providers (`Channel`, `TextMessenger`, `Mailer`) are in `notifier.adapters`; the
PostgreSQL implementations of the store are in `notifier.adapters.attempts` and
`notifier.adapters.postgres`; the unit tests use in-memory ones. The unit of work's
repositories run inside the handler's one transaction: what they write and what it publishes
commit together (the outbox), or not at all. The attempt log alone writes outside it, on a
connection of its own, so that an attempt deferred for a retry (which rolls the transaction
back) is kept too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from lre_shared import units
from lre_shared.contracts import NoticeChannel, SendNotice
from notifier.domain.delivery import Attempt
from notifier.domain.email import Email
from notifier.domain.notice import Notice
from notifier.domain.reminders import ReminderSchedule


class Channel(Protocol):
    """A notice to one address: by email, SMS, call or fax."""

    async def deliver(self, notice: Notice, address: str, key: UUID | None = None) -> str:
        """The provider's id for the message; raises `PermanentDeliveryError` or
        `TransientDeliveryError` (notifier.domain.delivery) when it cannot. `key` is the
        notice's identity on the channel (`delivery_key`), the same on a resend: the channel
        gives it to its provider where the provider knows of one (an email's Message-ID)."""
        ...


class TextMessenger(Protocol):
    """Short texts (one-time codes, case confirmations) to a phone number."""

    async def send_text(self, to: str, body: str) -> str: ...


class Mailer(Protocol):
    async def send(self, email: Email) -> str:
        """Send; return the Message-ID. Raises Permanent/TransientDeliveryError."""
        ...


class AttemptLog(Protocol):
    """Every try of a channel, kept whatever becomes of the handler's transaction."""

    async def record(self, attempt: Attempt) -> None: ...

    async def begin(self, attempt: Attempt) -> Attempt | None:
        """Mark `attempt` (outcome `sending`) as about to reach its provider, committed before
        the provider is called; return the latest earlier record of its notice on its channel.
        No mark is written when that record says the provider took the notice already."""
        ...

    async def failed_for_good(self, notice_id: UUID) -> dict[NoticeChannel, str]:
        """Channels already tried for this notice that failed for good, with the reason."""
        ...

    async def claim(self, round_id: UUID, channel: NoticeChannel, notice_id: UUID) -> UUID:
        """Take `channel` in the round for `notice_id`, unless a command took it first; return
        the command that holds it. Kept whatever becomes of the handler's transaction: a
        channel tried is used, and the command that tried it is the one to try it again."""
        ...


class Attempts(Protocol):
    """The attempts a provider reports on, inside the transaction that takes its report."""

    async def sent_as(self, provider_message_id: str) -> Attempt | None:
        """The latest attempt the provider took and named `provider_message_id`."""
        ...

    async def add(self, attempt: Attempt) -> None: ...

    async def add_first_failure(self, attempt: Attempt) -> bool:
        """Keep the provider's failure of a message unless it reported one already (providers
        retry their reports); True when this one is the first."""
        ...


class Rounds(Protocol):
    """Which command of a round (one notice or reminder on every channel) holds each channel."""

    async def used(self, round_id: UUID) -> set[NoticeChannel]: ...

    async def take(self, round_id: UUID, channel: NoticeChannel, notice_id: UUID) -> bool:
        """Take `channel` in the round for `notice_id`; False when a command holds it already."""
        ...


class Notices(Protocol):
    """The commands of notices sent, kept for the provider's later report."""

    async def keep(self, command: SendNotice) -> None:
        """Keep `command` (once: a redelivered command keeps the first)."""
        ...

    async def command(self, notice_id: UUID) -> SendNotice | None: ...


class Reminders(Protocol):
    """Each letter's reminder schedule, from its first notice until it stops."""

    async def add(self, schedule: ReminderSchedule) -> None:
        """Start the letter's reminders, unless it has a schedule already."""
        ...

    async def active(self, letter_id: UUID) -> ReminderSchedule | None:
        """The letter's schedule, unless it stopped."""
        ...

    async def due(self, now: datetime, limit: int) -> list[ReminderSchedule]:
        """Up to `limit` running schedules due at `now`, earliest first, held for this
        transaction; those another transaction holds are left to it."""
        ...

    async def reschedule(self, letter_id: UUID, next_at: datetime | None) -> None:
        """Move the letter's next reminder to `next_at`; None stops them: the window is over."""
        ...

    async def stop_on_decision(self, letter_id: UUID) -> None: ...

    async def change_language(self, letter_id: UUID, language: str) -> None: ...

    async def known(self, opt_out_token: str) -> bool:
        """Whether a schedule, stopped or not, has this opt-out token."""
        ...

    async def opt_out(self, opt_out_token: str) -> bool:
        """Stop the reminders of the letter whose link carries the token; False if unknown."""
        ...


class UnitOfWork(units.UnitOfWork, Protocol):
    """One transaction: the notifier's repositories, and the outbox of what it announces."""

    @property
    def attempts(self) -> Attempts: ...

    @property
    def rounds(self) -> Rounds: ...

    @property
    def notices(self) -> Notices: ...

    @property
    def reminders(self) -> Reminders: ...
