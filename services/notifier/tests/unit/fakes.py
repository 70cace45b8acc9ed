"""In-memory stand-ins for the notifier's store and providers, for the unit tests.

They keep what the PostgreSQL repositories keep, in dicts and lists, and answer the same
questions in the same words (`notifier.service_layer.ports`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from lre_shared.contracts import Message, NoticeChannel, SendNotice
from notifier.adapters.email import Email
from notifier.domain.delivery import Attempt
from notifier.domain.notice import Notice
from notifier.domain.reminders import ReminderSchedule

# Which command of a round holds each channel: shared by the attempt log and the rounds,
# as the `notice_channels` table is.
Claims = dict[tuple[UUID, NoticeChannel], UUID]


@dataclass
class InMemoryAttemptLog:
    history: list[Attempt] = field(default_factory=list)  # marks and outcomes, in order
    claims: Claims = field(default_factory=dict)

    @property
    def recorded(self) -> list[Attempt]:
        """The outcomes recorded, without the `sending` marks."""
        return [a for a in self.history if a.outcome != "sending"]

    @property
    def marks(self) -> list[Attempt]:
        return [a for a in self.history if a.outcome == "sending"]

    async def claim(self, round_id: UUID, channel: NoticeChannel, notice_id: UUID) -> UUID:
        return self.claims.setdefault((round_id, channel), notice_id)

    async def record(self, attempt: Attempt) -> None:
        self.history.append(attempt)

    async def begin(self, attempt: Attempt) -> Attempt | None:
        same = (attempt.notice_id, attempt.channel)
        earlier = [a for a in self.history if (a.notice_id, a.channel) == same]
        taken = [a for a in earlier if a.outcome in ("sent", "delivered")]
        previous = (taken or earlier or [None])[-1]
        if not taken:
            self.history.append(attempt)
        return previous

    async def failed_for_good(self, notice_id: UUID) -> dict[NoticeChannel, str]:
        failed = [a for a in self.recorded if a.notice_id == notice_id and a.outcome == "failed"]
        return {a.channel: a.reason or "" for a in failed}


@dataclass
class InMemoryAttempts:
    recorded: list[Attempt] = field(default_factory=list)

    async def sent_as(self, provider_message_id: str) -> Attempt | None:
        taken = (provider_message_id, "sent")
        sent = [a for a in self.recorded if (a.provider_message_id, a.outcome) == taken]
        return sent[-1] if sent else None

    async def add(self, attempt: Attempt) -> None:
        self.recorded.append(attempt)

    async def add_first_failure(self, attempt: Attempt) -> bool:
        failure = (attempt.provider_message_id, "failed")
        if any((a.provider_message_id, a.outcome) == failure for a in self.recorded):
            return False
        self.recorded.append(attempt)
        return True


@dataclass
class InMemoryRounds:
    claims: Claims = field(default_factory=dict)

    async def used(self, round_id: UUID) -> set[NoticeChannel]:
        return {channel for (round_, channel) in self.claims if round_ == round_id}

    async def take(self, round_id: UUID, channel: NoticeChannel, notice_id: UUID) -> bool:
        return self.claims.setdefault((round_id, channel), notice_id) == notice_id


@dataclass
class InMemoryNotices:
    kept: dict[UUID, SendNotice] = field(default_factory=dict)

    async def keep(self, command: SendNotice) -> None:
        self.kept.setdefault(command.message_id, command)

    async def command(self, notice_id: UUID) -> SendNotice | None:
        return self.kept.get(notice_id)


@dataclass
class InMemoryReminders:
    schedules: dict[UUID, ReminderSchedule] = field(default_factory=dict)
    stopped: dict[UUID, str] = field(default_factory=dict)  # why each letter's reminders stopped

    async def add(self, schedule: ReminderSchedule) -> None:
        self.schedules.setdefault(schedule.letter_id, schedule)

    async def active(self, letter_id: UUID) -> ReminderSchedule | None:
        return None if letter_id in self.stopped else self.schedules.get(letter_id)

    async def due(self, now: datetime, limit: int) -> list[ReminderSchedule]:
        running = [s for s in self.schedules.values() if s.letter_id not in self.stopped]
        due = [s for s in running if s.next_at is not None and s.next_at <= now]
        return sorted(due, key=lambda s: s.next_at or now)[:limit]

    async def reschedule(self, letter_id: UUID, next_at: datetime | None) -> None:
        self.schedules[letter_id] = replace(self.schedules[letter_id], next_at=next_at)
        if next_at is None:
            self.stopped[letter_id] = "window over"

    async def stop_on_decision(self, letter_id: UUID) -> None:
        if letter_id in self.schedules:
            self.schedules[letter_id] = replace(self.schedules[letter_id], next_at=None)
            self.stopped[letter_id] = "decided"

    async def change_language(self, letter_id: UUID, language: str) -> None:
        if letter_id in self.schedules:
            self.schedules[letter_id] = replace(self.schedules[letter_id], language=language)  # type: ignore[arg-type]

    async def known(self, opt_out_token: str) -> bool:
        return any(s.opt_out_token == opt_out_token for s in self.schedules.values())

    async def opt_out(self, opt_out_token: str) -> bool:
        found = [s for s in self.schedules.values() if s.opt_out_token == opt_out_token]
        for schedule in found:
            self.schedules[schedule.letter_id] = replace(schedule, next_at=None)
            self.stopped.setdefault(schedule.letter_id, "opted out")
        return bool(found)


@dataclass
class InMemoryUnitOfWork:
    attempts: InMemoryAttempts = field(default_factory=InMemoryAttempts)
    rounds: InMemoryRounds = field(default_factory=InMemoryRounds)
    notices: InMemoryNotices = field(default_factory=InMemoryNotices)
    reminders: InMemoryReminders = field(default_factory=InMemoryReminders)
    published: list[Message] = field(default_factory=list)

    async def publish(self, message: Message) -> None:
        self.published.append(message)


@dataclass
class FakeProvider:
    """Takes every message and answers its id for it, or refuses each with `error`."""

    error: Exception | None = None

    def answer(self, provider_message_id: str) -> str:
        if self.error is not None:
            raise self.error
        return provider_message_id


@dataclass
class FakeMailer(FakeProvider):
    sent: list[Email] = field(default_factory=list)

    async def send(self, email: Email) -> str:
        self.sent.append(email)
        return self.answer("<provider-42@mail.example>")


@dataclass
class FakeChannel(FakeProvider):
    delivered: list[tuple[Notice, str]] = field(default_factory=list)

    async def deliver(self, notice: Notice, address: str, key: UUID | None = None) -> str:
        self.delivered.append((notice, address))
        return self.answer("SM0001")


@dataclass
class FakeTexts(FakeProvider):
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send_text(self, to: str, body: str) -> str:
        self.sent.append((to, body))
        return self.answer("SM0002")
