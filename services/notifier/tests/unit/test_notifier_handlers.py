"""send_notice with fake channels and in-memory repositories: the attempt log and the unit of work."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from lre_shared.contracts import (
    LetterDeposited,
    Message,
    NoticeChannel,
    NoticeFailed,
    NoticeKind,
    NoticeSent,
    Recipient,
    Sender,
    SendNotice,
    StoredDocument,
)
from notifier.adapters.channels import EmailChannel, UnconfiguredChannel
from notifier.adapters.email import PermanentDeliveryError, TransientDeliveryError
from notifier.domain.reminders import ReminderSchedule
from notifier.service_layer.handlers import send_notice
from notifier.service_layer.reminders import queue_due

from .fakes import FakeChannel, FakeMailer, InMemoryAttemptLog, InMemoryUnitOfWork

PICKUP_URL = "https://pickup.lre.example"


def a_schedule(letter_id: UUID, **fields: Any) -> ReminderSchedule:
    values: dict[str, Any] = {
        "item_number": "799273987130",
        "address": "camille.martin@exemple.example",
        "language": "fr",
        "deadline": date.today() + timedelta(days=10),
        "next_at": datetime.now(UTC) + timedelta(days=3),
        "opt_out_token": "tok" + letter_id.hex,
    }
    return ReminderSchedule(letter_id, **(values | fields))


def a_command(**fields: Any) -> SendNotice:
    values: dict[str, Any] = {
        "correlation_id": uuid4(),
        "item_number": "799273987130",
        "address": "camille.martin@exemple.example",
        "deadline": date(2025, 3, 16),
    }
    return SendNotice(**(values | fields))


async def run(
    command: SendNotice,
    uow: InMemoryUnitOfWork,
    mailer: FakeMailer | None = None,
    attempts: InMemoryAttemptLog | None = None,
    **channels: Any,
) -> Message | None:
    adapters = {NoticeChannel.email: EmailChannel(mailer or FakeMailer())} | {
        NoticeChannel(name): channel for name, channel in channels.items()
    }
    return await send_notice(
        command,
        uow,
        channels=adapters,
        attempts=attempts or InMemoryAttemptLog(),
        pickup_url=PICKUP_URL,
        reminder_every=timedelta(days=3),
        opt_out_url="https://notifier.lre.example/",
    )


async def test_a_delivered_notice_publishes_notice_sent() -> None:
    command = a_command()
    uow = InMemoryUnitOfWork()

    result = await run(command, uow)

    assert result is None
    [event] = uow.published
    assert isinstance(event, NoticeSent)
    assert event.notice_id == command.message_id
    assert event.correlation_id == command.correlation_id
    assert event.item_number == command.item_number
    assert event.address == command.address
    assert event.provider_message_id == "<provider-42@mail.example>"


async def test_the_mailer_receives_the_rendered_notice_for_the_recipient() -> None:
    command = a_command()
    mailer = FakeMailer()

    await run(command, InMemoryUnitOfWork(), mailer)

    [mail] = mailer.sent
    assert mail.to == command.address
    assert command.item_number in mail.text
    assert mail.html is not None
    assert "16/03/2025" in mail.html
    assert PICKUP_URL + "/" in mail.text
    assert mail.headers == ()  # List-Unsubscribe is for reminders only


async def test_a_delivered_notice_is_recorded_as_sent() -> None:
    attempts = InMemoryAttemptLog()

    await run(a_command(), InMemoryUnitOfWork(), attempts=attempts)

    [attempt] = attempts.recorded
    assert (attempt.channel, attempt.outcome, attempt.reason) == (NoticeChannel.email, "sent", None)
    assert attempt.provider_message_id == "<provider-42@mail.example>"


async def test_a_first_notice_sent_schedules_reminders() -> None:
    uow = InMemoryUnitOfWork()

    command = a_command(deadline=date.today() + timedelta(days=15))

    await run(command, uow)

    assert uow.notices.kept == {command.message_id: command}  # for the provider's later report
    [schedule] = uow.reminders.schedules.values()
    assert schedule.letter_id == command.correlation_id
    assert schedule.next_at is not None
    assert schedule.next_at > datetime.now(UTC) + timedelta(days=2, hours=23)


async def test_a_permanent_failure_publishes_notice_failed_permanent() -> None:
    command = a_command()
    uow = InMemoryUnitOfWork()

    await run(command, uow, FakeMailer(error=PermanentDeliveryError("SMTP 550: no such user")))

    [event] = uow.published
    assert isinstance(event, NoticeFailed)
    assert event.permanent is True
    assert (event.channel, event.reason) == (NoticeChannel.email, "SMTP 550: no such user")
    assert event.notice_id == command.message_id
    assert event.correlation_id == command.correlation_id


async def test_a_permanent_failure_is_recorded_as_failed() -> None:
    attempts = InMemoryAttemptLog()

    await run(
        a_command(), InMemoryUnitOfWork(), FakeMailer(error=PermanentDeliveryError("SMTP 550: x")), attempts
    )

    [attempt] = attempts.recorded
    assert (attempt.outcome, attempt.reason) == ("failed", "SMTP 550: x")


async def test_a_transient_failure_is_recorded_and_propagates_so_the_bus_retries() -> None:
    uow, attempts = InMemoryUnitOfWork(), InMemoryAttemptLog()

    with pytest.raises(TransientDeliveryError):
        await run(a_command(), uow, FakeMailer(error=TransientDeliveryError("SMTP 421: try later")), attempts)

    assert uow.published == []
    assert [(a.outcome, a.reason) for a in attempts.recorded] == [("deferred", "SMTP 421: try later")]


async def test_an_email_refused_for_good_falls_back_to_sms() -> None:
    command = a_command(phone="+33612345678", fallback=(NoticeChannel.sms,))
    uow, attempts, sms = InMemoryUnitOfWork(), InMemoryAttemptLog(), FakeChannel()

    await run(
        command, uow, FakeMailer(error=PermanentDeliveryError("SMTP 550: no such user")), attempts, sms=sms
    )

    failed, sent = uow.published
    assert isinstance(failed, NoticeFailed) and failed.channel == NoticeChannel.email
    assert isinstance(sent, NoticeSent)
    assert (sent.channel, sent.address, sent.provider_message_id) == ("sms", "+33612345678", "SM0001")
    assert [(a.channel, a.outcome) for a in attempts.recorded] == [("email", "failed"), ("sms", "sent")]


async def test_a_redelivered_command_does_not_retry_a_channel_that_failed_for_good() -> None:
    command = a_command(phone="+33612345678", fallback=(NoticeChannel.sms,))
    attempts = InMemoryAttemptLog()
    mailer = FakeMailer(error=PermanentDeliveryError("SMTP 550: no such user"))
    with pytest.raises(TransientDeliveryError):
        await run(
            command, InMemoryUnitOfWork(), mailer, attempts, sms=FakeChannel(TransientDeliveryError("503"))
        )

    uow = InMemoryUnitOfWork()
    await run(command, uow, mailer, attempts, sms=FakeChannel())

    assert len(mailer.sent) == 1
    # The email's failure is given again (its first event went with the rolled-back delivery).
    assert [type(e) for e in uow.published] == [NoticeFailed, NoticeSent]
    assert uow.published[0].channel == NoticeChannel.email  # type: ignore[attr-defined]


async def test_every_channel_failing_gives_one_notice_failed_a_channel_with_its_reason() -> None:
    command = a_command(phone="+33612345678", fallback=(NoticeChannel.sms, NoticeChannel.voice))
    uow = InMemoryUnitOfWork()
    unconfigured = UnconfiguredChannel("voice", ("NOTIFIER_TWILIO_ACCOUNT_SID",))

    await run(
        command,
        uow,
        FakeMailer(error=PermanentDeliveryError("SMTP 550: no such user")),
        sms=FakeChannel(PermanentDeliveryError("Twilio HTTP 400: 21211 invalid To")),
        voice=unconfigured,
    )

    assert all(isinstance(event, NoticeFailed) for event in uow.published)
    assert [(e.channel, e.reason) for e in uow.published] == [  # type: ignore[attr-defined]
        ("email", "SMTP 550: no such user"),
        ("sms", "Twilio HTTP 400: 21211 invalid To"),
        ("voice", "the voice channel is not configured: set NOTIFIER_TWILIO_ACCOUNT_SID"),
    ]
    assert uow.published[-1].attempts == (  # type: ignore[attr-defined]
        "email: SMTP 550: no such user",
        "sms: Twilio HTTP 400: 21211 invalid To",
        "voice: the voice channel is not configured: set NOTIFIER_TWILIO_ACCOUNT_SID",
    )


async def test_a_channel_without_an_address_in_the_command_fails_for_good() -> None:
    uow = InMemoryUnitOfWork()

    await run(a_command(channel=NoticeChannel.sms), uow, sms=FakeChannel())

    [event] = uow.published
    assert isinstance(event, NoticeFailed)
    assert (event.channel, event.reason) == ("sms", "no address for the sms channel in the command")


async def test_a_reminder_carries_the_opt_out_link_and_list_unsubscribe() -> None:
    command, uow, mailer = a_command(kind=NoticeKind.reminder), InMemoryUnitOfWork(), FakeMailer()
    schedule = a_schedule(command.correlation_id, opt_out_token="tok123")
    uow.reminders.schedules[schedule.letter_id] = schedule

    await run(command, uow, mailer)

    [mail] = mailer.sent
    link = "https://notifier.lre.example/reminders/opt-out/tok123"
    assert link in mail.text
    assert dict(mail.headers) == {
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    [event] = uow.published
    assert isinstance(event, NoticeSent)
    assert event.kind is NoticeKind.reminder
    # A reminder schedules nothing more (the command is kept for the provider's report).
    assert uow.reminders.schedules == {schedule.letter_id: schedule}
    assert uow.notices.kept == {command.message_id: command}


async def test_a_reminder_for_a_stopped_schedule_sends_nothing() -> None:
    uow, mailer = InMemoryUnitOfWork(), FakeMailer()

    await run(a_command(kind=NoticeKind.reminder), uow, mailer)

    assert mailer.sent == []
    assert uow.published == []


async def test_a_notice_for_a_letter_from_cabinet_dupont_never_mentions_dupont() -> None:
    deposited = LetterDeposited(
        correlation_id=uuid4(),
        item_number="799273987130",
        sender=Sender(id="cabinet-dupont", name="Cabinet Dupont", email="greffe@dupont-avocats.example"),
        recipient=Recipient(
            last_name="Martin",
            first_name="Camille",
            address="12 avenue de l'Opéra",
            postcode="75001",
            city="Paris",
            email="camille.martin@exemple.example",
        ),
        documents=(StoredDocument(document_id=uuid4(), filename="dupont.pdf", size=1, sha256="0" * 64),),
        verification_policy="default",
        deposited_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
    )
    # As pickup builds it from the deposit: the command has no field for the sender.
    command = SendNotice(
        correlation_id=deposited.correlation_id,
        item_number=deposited.item_number,
        address=deposited.recipient.email,
        deadline=date(2025, 3, 16),
    )
    uow, mailer = InMemoryUnitOfWork(), FakeMailer()

    await run(command, uow, mailer)

    [mail] = mailer.sent
    assert "dupont" not in f"{mail.subject} {mail.text} {mail.html}".lower()
    assert "dupont" not in command.to_json().decode().lower()
    assert all("dupont" not in message.to_json().decode().lower() for message in uow.published)


# ----------------------------------------------------------------- a round, one command a channel


def a_round(**fields: Any) -> list[SendNotice]:
    from lre_shared.notices import per_channel

    return per_channel(a_command(phone="+33612345678", fax="+33142680001", **fields))


async def test_every_channel_asked_is_sent_by_its_own_command_naming_its_channel() -> None:
    attempts, mailer, sms, voice, fax = (
        InMemoryAttemptLog(),
        FakeMailer(),
        FakeChannel(),
        FakeChannel(),
        FakeChannel(),
    )
    published: list[Message] = []
    for command in a_round(channels=(NoticeChannel.sms, NoticeChannel.voice, NoticeChannel.fax)):
        uow = InMemoryUnitOfWork()
        await run(command, uow, mailer, attempts, sms=sms, voice=voice, fax=fax)
        published += uow.published

    assert [(e.channel, e.address) for e in published if isinstance(e, NoticeSent)] == [
        ("email", "camille.martin@exemple.example"),
        ("sms", "+33612345678"),
        ("voice", "+33612345678"),
        ("fax", "+33142680001"),
    ]
    assert (len(mailer.sent), len(sms.delivered), len(voice.delivered), len(fax.delivered)) == (1, 1, 1, 1)


async def test_a_call_goes_to_the_landline_when_there_is_no_mobile() -> None:
    voice, command = FakeChannel(), a_command(channel=NoticeChannel.voice, landline="+33142680000")

    await run(command, InMemoryUnitOfWork(), voice=voice)

    assert [address for _, address in voice.delivered] == ["+33142680000"]


async def test_an_email_refused_for_good_skips_the_channels_the_round_used_already() -> None:
    email, sms = a_round(channels=(NoticeChannel.sms,))
    attempts, voice = InMemoryAttemptLog(), FakeChannel()
    await run(sms, InMemoryUnitOfWork(), attempts=attempts, sms=FakeChannel())

    uow = InMemoryUnitOfWork()
    await run(
        email, uow, FakeMailer(error=PermanentDeliveryError("SMTP 550: no such user")), attempts, voice=voice
    )

    # SMS was used by its own command: the email falls back to the next one, a call.
    assert [(type(e).__name__, e.channel) for e in uow.published] == [  # type: ignore[attr-defined]
        ("NoticeFailed", "email"),
        ("NoticeSent", "voice"),
    ]
    assert len(voice.delivered) == 1


async def test_a_command_whose_channel_another_took_as_its_fallback_stays_silent() -> None:
    email, sms = a_round(channels=(NoticeChannel.sms,))
    attempts, mailer = InMemoryAttemptLog(), FakeMailer()
    # The SMS failed for good first and fell back to the email before the email's own command ran.
    refused = FakeChannel(PermanentDeliveryError("HTTP 400"))
    await run(sms, InMemoryUnitOfWork(), mailer, attempts, sms=refused)

    uow, voice = InMemoryUnitOfWork(), FakeChannel()
    await run(email, uow, mailer, attempts, voice=voice)

    assert uow.published == [] and voice.delivered == []
    assert len(mailer.sent) == 1  # the email went once, by the SMS's fallback


async def test_the_same_command_again_keeps_its_own_channel() -> None:
    [email] = a_round()
    attempts, mailer = InMemoryAttemptLog(), FakeMailer(error=TransientDeliveryError("SMTP 421"))
    with pytest.raises(TransientDeliveryError):
        await run(email, InMemoryUnitOfWork(), mailer, attempts)

    uow = InMemoryUnitOfWork()
    await run(email, uow, FakeMailer(), attempts)

    assert [type(e) for e in uow.published] == [NoticeSent]


async def test_a_first_notice_keeps_the_letters_channels_for_its_reminders() -> None:
    email, *_ = a_round(channels=(NoticeChannel.sms, NoticeChannel.fax))
    uow = InMemoryUnitOfWork()

    await run(email, uow)

    [schedule] = uow.reminders.schedules.values()
    assert schedule.channels == ("email", "sms", "fax")
    assert (schedule.phone, schedule.landline, schedule.fax) == ("+33612345678", None, "+33142680001")


async def test_a_due_reminder_goes_on_the_letters_channels_one_command_each() -> None:
    uow, now = InMemoryUnitOfWork(), datetime.now(UTC)
    schedule = a_schedule(
        uuid4(),
        next_at=now,
        channels=(NoticeChannel.email, NoticeChannel.sms, NoticeChannel.voice),
        phone="+33612345678",
    )
    uow.reminders.schedules[schedule.letter_id] = schedule

    assert await queue_due(uow, now, timedelta(days=3)) == 1

    commands = [m for m in uow.published if isinstance(m, SendNotice)]
    assert [c.channel for c in commands] == ["email", "sms", "voice"]
    assert {c.kind for c in commands} == {NoticeKind.reminder}
    assert len({c.round_id for c in commands}) == 1
    assert uow.reminders.schedules[schedule.letter_id].next_at == now + timedelta(days=3)


async def test_the_last_reminder_of_the_window_stops_the_schedule() -> None:
    uow, now = InMemoryUnitOfWork(), datetime.now(UTC)
    schedule = a_schedule(uuid4(), next_at=now, deadline=now.date() + timedelta(days=1))
    uow.reminders.schedules[schedule.letter_id] = schedule

    assert await queue_due(uow, now, timedelta(days=3)) == 1
    assert await queue_due(uow, now + timedelta(days=3), timedelta(days=3)) == 0

    assert uow.reminders.stopped == {schedule.letter_id: "window over"}
