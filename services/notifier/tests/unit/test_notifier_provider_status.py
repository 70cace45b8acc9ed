"""A provider's later report on an SMS or a call, with in-memory repositories: kept once,
announced, and for an undelivered notice, the next channel of the letter not yet used."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

from lre_shared.contracts import NoticeChannel, NoticeDelivered, NoticeFailed, SendNotice
from lre_shared.notices import per_channel
from notifier.domain.delivery import Attempt
from notifier.service_layer.provider_status import report

from .fakes import InMemoryUnitOfWork

SID = "SM" + "0" * 32


def a_round_with_an_sms() -> tuple[InMemoryUnitOfWork, SendNotice]:
    """A letter's email and SMS, each sent by its own command; the SMS command kept, as
    `send_notice` leaves it for the provider's report."""
    email, sms = per_channel(
        SendNotice(
            correlation_id=uuid4(),
            item_number="799273987130",
            address="camille.martin@exemple.example",
            deadline=date.today() + timedelta(days=15),
            phone="+33612345678",
            channels=(NoticeChannel.sms,),
        )
    )
    uow = InMemoryUnitOfWork()
    for command in (email, sms):
        uow.rounds.claims[(command.round_id or command.message_id, command.channel)] = command.message_id
    uow.notices.kept[sms.message_id] = sms
    sent = Attempt(sms.message_id, sms.correlation_id, NoticeChannel.sms, "+33612345678", "sent", None, SID)
    uow.attempts.recorded.append(sent)
    return uow, sms


async def test_an_unknown_message_is_not_ours() -> None:
    assert await report(InMemoryUnitOfWork(), "SM-unknown", "delivered") is False


async def test_a_delivered_sms_is_kept_and_announced() -> None:
    uow, sms = a_round_with_an_sms()

    assert await report(uow, SID, "delivered") is True

    kept = uow.attempts.recorded[-1]
    assert (kept.outcome, kept.reason, kept.notice_id) == ("delivered", "delivered", sms.message_id)
    [event] = uow.published
    assert isinstance(event, NoticeDelivered)
    assert (event.notice_id, event.channel, event.provider_message_id) == (sms.message_id, "sms", SID)


async def test_an_undelivered_sms_fails_and_the_letter_goes_on_with_a_call() -> None:
    uow, sms = a_round_with_an_sms()

    await report(uow, SID, "undelivered", "30003")

    failed, following = uow.published
    assert isinstance(failed, NoticeFailed)
    assert (failed.channel, failed.reason) == ("sms", "provider status undelivered 30003")
    assert failed.attempts == ("sms: provider status undelivered 30003",)
    # The email was used by its own command: a call is the next channel of the letter.
    assert isinstance(following, SendNotice)
    assert (following.channel, following.round_id) == (NoticeChannel.voice, sms.round_id)
    assert uow.rounds.claims[(sms.round_id, NoticeChannel.voice)] == following.message_id  # type: ignore[index]


async def test_a_failure_reported_twice_counts_once() -> None:
    uow, _ = a_round_with_an_sms()
    await report(uow, SID, "failed")
    published = list(uow.published)

    assert await report(uow, SID, "failed") is True

    assert uow.published == published
    assert [a.outcome for a in uow.attempts.recorded] == ["sent", "failed"]


async def test_a_failed_code_goes_on_with_nothing() -> None:
    uow = InMemoryUnitOfWork()
    code = Attempt(uuid4(), uuid4(), NoticeChannel.sms, "+33612345678", "sent", None, SID, "code")
    uow.attempts.recorded.append(code)

    await report(uow, SID, "undelivered")

    assert uow.published == []
    assert [a.outcome for a in uow.attempts.recorded] == ["sent", "failed"]
