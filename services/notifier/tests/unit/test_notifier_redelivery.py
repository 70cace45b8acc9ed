"""A notice's identity on its channel, and what a redelivered SendNotice does with what the
attempt log recorded before: resend under the same Message-ID, or give the recorded send."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from email import message_from_bytes
from uuid import UUID, uuid4

from lre_shared.contracts import NoticeChannel, NoticeSent
from notifier.adapters.email import Email, SmtpMailer
from notifier.domain.delivery import Attempt, Redelivery, delivery_key, redelivery
from notifier.domain.email import message_id

from .fakes import FakeMailer, InMemoryAttemptLog, InMemoryUnitOfWork
from .test_notifier_handlers import a_command, run


class Killed(BaseException):
    """The process stopping between the provider's answer and the record of it."""


@dataclass
class MailerKilledAfterAcceptance(FakeMailer):
    """Takes the email, then the process stops before its outcome is recorded."""

    async def send(self, email: Email) -> str:
        await super().send(email)
        raise Killed


def an_attempt(outcome: str, provider_message_id: str | None = None) -> Attempt:
    address = "a@exemple.example"
    return Attempt(uuid4(), uuid4(), NoticeChannel.email, address, outcome, None, provider_message_id)


def test_a_notice_has_the_same_key_on_every_delivery_of_its_command() -> None:
    notice_id = UUID("0b7f4f4e-6a53-4cf1-9a0e-1d2b3c4d5e6f")

    assert delivery_key(notice_id, NoticeChannel.email) == delivery_key(notice_id, NoticeChannel.email)
    assert delivery_key(notice_id, NoticeChannel.email) != delivery_key(notice_id, NoticeChannel.fax)
    assert delivery_key(notice_id, NoticeChannel.email) != delivery_key(uuid4(), NoticeChannel.email)
    # Fixed namespace: the identity survives a restart and a new release.
    assert str(delivery_key(notice_id, NoticeChannel.email)) == "06393b9c-6efd-5276-be37-ca7cf3d1a702"


def test_the_message_id_is_the_key_in_the_platform_mail_domain() -> None:
    key = UUID("8f0e0b0f-ca4e-5d40-9a57-2f0d2b9e1b9b")

    assert message_id(key, "lre.example") == "<8f0e0b0f-ca4e-5d40-9a57-2f0d2b9e1b9b@lre.example>"


def test_the_mailer_writes_the_message_id_of_the_key_and_a_fresh_one_without() -> None:
    mailer = SmtpMailer("127.0.0.1", 25, "notifications@lre.example", False, None, None, 5.0)
    key = uuid4()

    first, raw = mailer.compose(Email("a@exemple.example", "s", "t", key=key))
    again, _ = mailer.compose(Email("a@exemple.example", "s", "t", key=key))
    unkeyed, _ = mailer.compose(Email("a@exemple.example", "s", "t"))

    assert first == again == f"<{key}@lre.example>"
    assert message_from_bytes(raw)["Message-ID"] == first
    assert unkeyed != first and unkeyed.endswith("@lre.example>")


def test_a_channel_never_tried_is_sent() -> None:
    assert redelivery(None) is Redelivery.send


def test_a_mark_without_outcome_is_resent() -> None:
    assert redelivery(an_attempt("sending")) is Redelivery.resend


def test_a_send_the_provider_took_is_not_sent_again() -> None:
    assert redelivery(an_attempt("sent", "<k@lre.example>")) is Redelivery.sent
    assert redelivery(an_attempt("delivered", "SM1")) is Redelivery.sent


def test_a_try_that_ended_deferred_or_failed_is_sent_again() -> None:
    assert redelivery(an_attempt("deferred")) is Redelivery.send
    assert redelivery(an_attempt("failed")) is Redelivery.send


async def test_the_mark_is_recorded_before_the_provider_is_called() -> None:
    attempts = InMemoryAttemptLog()

    with suppress(Killed):
        await run(a_command(), InMemoryUnitOfWork(), MailerKilledAfterAcceptance(), attempts)

    assert [a.outcome for a in attempts.history] == ["sending"]


async def test_a_redelivered_notice_without_outcome_is_resent_with_the_same_message_identity() -> None:
    command, attempts = a_command(), InMemoryAttemptLog()
    first = MailerKilledAfterAcceptance()
    with suppress(Killed):
        await run(command, InMemoryUnitOfWork(), first, attempts)  # its transaction never commits
    second, uow = FakeMailer(), InMemoryUnitOfWork()

    await run(command, uow, second, attempts)

    [lost], [resent] = first.sent, second.sent
    assert lost.key == resent.key == delivery_key(command.message_id, NoticeChannel.email)
    assert [a.outcome for a in attempts.recorded] == ["sent"]
    assert [type(m) for m in uow.published] == [NoticeSent]


async def test_a_redelivered_notice_whose_send_was_recorded_is_not_sent_again() -> None:
    command, attempts, mailer = a_command(), InMemoryAttemptLog(), FakeMailer()
    await run(command, InMemoryUnitOfWork(), mailer, attempts)  # sent, recorded, not committed
    uow = InMemoryUnitOfWork()

    await run(command, uow, mailer, attempts)

    assert len(mailer.sent) == 1
    assert [a.outcome for a in attempts.recorded] == ["sent"]
    [event] = uow.published
    assert isinstance(event, NoticeSent)
    assert event.provider_message_id == "<provider-42@mail.example>"
