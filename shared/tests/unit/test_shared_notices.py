"""A letter's notice on every channel: which commands, in which fallback order."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

from lre_shared.contracts import NoticeChannel, NoticeKind, SendNotice
from lre_shared.notices import continuation, letter_order, per_channel
from lre_shared.rules import FR_LRE

EMAIL, SMS, VOICE, FAX = NoticeChannel.email, NoticeChannel.sms, NoticeChannel.voice, NoticeChannel.fax


def a_notice(**fields: object) -> SendNotice:
    values: dict[str, object] = {
        "correlation_id": uuid4(),
        "item_number": "799273987130",
        "address": "camille.martin@exemple.example",
        "deadline": date(2025, 3, 16),
        "phone": "+33612345678",
        "fax": "+33142680001",
    }
    return SendNotice(**(values | fields))  # type: ignore[arg-type]


def test_each_channel_asked_gets_its_own_command_in_one_round_email_first() -> None:
    commands = per_channel(a_notice(channels=(SMS, VOICE, FAX)))

    assert [c.channel for c in commands] == [EMAIL, SMS, VOICE, FAX]
    assert len({c.round_id for c in commands}) == 1 and commands[0].round_id is not None
    assert len({c.message_id for c in commands}) == 4
    assert all(c.channels == (EMAIL, SMS, VOICE, FAX) for c in commands)
    assert {c.item_number for c in commands} == {"799273987130"}


def test_email_alone_is_asked_when_the_sender_asked_nothing_more() -> None:
    [command] = per_channel(a_notice(channels=()))

    assert command.channel is EMAIL


def test_each_command_falls_back_to_the_letters_other_channels_in_order() -> None:
    email, sms = per_channel(a_notice(channels=(EMAIL, SMS)))

    # Asked first (the sender's order), then the channels the letter has a number for.
    assert email.fallback == (SMS, VOICE, FAX)
    assert sms.fallback == (EMAIL, VOICE, FAX)


def test_a_channel_without_a_number_is_no_fallback() -> None:
    assert letter_order(a_notice(phone=None, fax=None)) == (EMAIL,)
    assert letter_order(a_notice(phone=None, landline="+33142680000", fax=None)) == (EMAIL, VOICE)


def test_an_undelivered_sms_goes_on_with_the_next_channel_not_yet_used() -> None:
    _, sms = per_channel(a_notice(channels=(EMAIL, SMS)))

    following = continuation(sms, SMS, used={EMAIL, SMS})

    assert following is not None
    assert (following.channel, following.fallback) == (VOICE, (FAX,))
    assert following.round_id == sms.round_id and following.message_id != sms.message_id
    assert following.kind is NoticeKind.notice


def test_nothing_goes_on_once_every_channel_was_used() -> None:
    commands = per_channel(a_notice(channels=(SMS, VOICE, FAX)))

    assert continuation(commands[1], SMS, used={EMAIL, SMS, VOICE, FAX}) is None


def test_only_the_email_starts_the_window_in_france() -> None:
    assert FR_LRE.starts_window(EMAIL)
    assert not any(FR_LRE.starts_window(channel) for channel in (SMS, VOICE, FAX))
