"""A letter's notice on every channel: one `SendNotice` a channel, and the fallback order.

Email is the legal notice (CPCE R.53-3; `RulesProfile.window_channels` says which channels
start the acceptance window); SMS, voice call and fax are alerts the sender may ask for
(`alert_channels`), with the same item number and never the sender's name. Every channel
asked goes out at once, each as its own command, so a slow or failing provider neither
delays nor repeats another channel.

When a channel fails for good (or its provider reports it undelivered), the notifier moves
on to the next channel of the letter's order not yet used in that round: first the channels
asked, in the sender's order, then, as fallbacks only, the channels the sender did not ask
for but for which the letter carries the recipient's number (sms, voice, fax). The commands
of one round share a `round_id`; the notifier uses each channel at most once a round
(ETSI EN 319 522: each attempt gives its NotificationForAcceptance or
NotificationForAcceptanceFailure evidence).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from uuid import uuid4

from lre_shared.contracts import NoticeChannel, SendNotice

FALLBACK_ORDER = (NoticeChannel.sms, NoticeChannel.voice, NoticeChannel.fax)


def asked_channels(asked: Iterable[NoticeChannel]) -> tuple[NoticeChannel, ...]:
    """The channels the notice goes on: email (the legal notice) first, then the alerts asked."""
    return tuple(dict.fromkeys((NoticeChannel.email, *asked)))


def reachable(channel: NoticeChannel, command: SendNotice) -> bool:
    """Whether the command carries an address for `channel` (voice: mobile, else landline)."""
    if channel is NoticeChannel.email:
        return True
    if channel is NoticeChannel.sms:
        return bool(command.phone)
    if channel is NoticeChannel.voice:
        return bool(command.phone or command.landline)
    return bool(command.fax)


def letter_order(command: SendNotice) -> tuple[NoticeChannel, ...]:
    """The letter's channels in order: those asked, then the fallbacks it has a number for."""
    asked = asked_channels(command.channels or (command.channel,))
    extra = tuple(c for c in FALLBACK_ORDER if c not in asked and reachable(c, command))
    return asked + extra


def per_channel(notice: SendNotice) -> list[SendNotice]:
    """One command a channel asked (`notice.channels`), sharing one round; each falls back
    to the letter's other channels, in order."""
    order = letter_order(notice)
    asked = asked_channels(notice.channels or (notice.channel,))
    round_id = notice.round_id or uuid4()
    return [
        notice.model_copy(
            update={
                "message_id": uuid4(),
                "channel": channel,
                "channels": asked,
                "fallback": tuple(c for c in order if c is not channel),
                "round_id": round_id,
            }
        )
        for channel in asked
    ]


def continuation(
    command: SendNotice, failed: NoticeChannel, used: Collection[NoticeChannel]
) -> SendNotice | None:
    """After `failed`, sent by `command`, was reported undelivered: the command that goes on
    with the next channel of its route not in `used` (the round's); None when none is left."""
    route = list(dict.fromkeys((command.channel, *command.fallback)))
    rest = [c for c in route[route.index(failed) + 1 :] if c not in used] if failed in route else []
    if not rest:
        return None
    return command.model_copy(
        update={
            "message_id": uuid4(),
            "channel": rest[0],
            "fallback": tuple(rest[1:]),
            "round_id": command.round_id or command.message_id,
        }
    )
