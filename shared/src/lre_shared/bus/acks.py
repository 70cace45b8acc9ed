"""Settling deliveries with the broker: as few frames as the order of the commits allows.

A batch committed together is acknowledged with one `basic.ack` (`multiple`) when no other
delivery of the channel below its highest tag is still open (being handled, or waiting for
a retry); otherwise each of its deliveries is acknowledged on its own. Never is a delivery
acknowledged before its own transaction committed: a `multiple` ack covers only tags that
are settled by the batch itself.

That holds because every delivery is recorded (`received`) as the first step of its own task,
before any await: aiormq and aio-pika start one task per delivery, in the order of the
frames, and the event loop runs them in that order, so no batch can hold a tag above one
not recorded yet. A delivery that is never settled (a stop, an unexpected error) stays
open, and no `multiple` ack passes over it.
"""

from __future__ import annotations

import weakref

from aio_pika.abc import AbstractIncomingMessage
from aiormq.abc import AbstractChannel
from aiormq.exceptions import ChannelInvalidStateError


class _Open:
    """The deliveries of one channel received and not yet settled, by delivery tag."""

    __slots__ = ("tags",)

    def __init__(self) -> None:
        self.tags: set[int] = set()


class Settlements:
    """Acks, nacks and the bookkeeping that lets a batch share one ack."""

    def __init__(self) -> None:
        # Per channel: a reopened channel numbers its deliveries afresh, and the tags of a
        # closed one go with it.
        self._open: weakref.WeakKeyDictionary[AbstractChannel, _Open] = weakref.WeakKeyDictionary()

    def received(self, message: AbstractIncomingMessage) -> None:
        if message.delivery_tag is not None:
            self._of(message.channel).tags.add(message.delivery_tag)

    async def ack(self, messages: list[AbstractIncomingMessage]) -> None:
        """Acknowledge `messages`, all committed: one frame when their tags are the lowest
        open ones of their channel, one each otherwise. The frames are written, not awaited
        on the socket: a lost ack means a redelivery, which the inbox recognises."""
        by_channel: dict[AbstractChannel, list[int]] = {}
        for message in messages:
            if message.delivery_tag is not None:
                by_channel.setdefault(message.channel, []).append(message.delivery_tag)
        for channel, tags in by_channel.items():
            _usable(channel)
            open_tags = self._of(channel).tags
            settling = set(tags)
            others = open_tags - settling
            floor = min(others) if others else None
            below = [tag for tag in tags if floor is None or tag < floor]
            singly = [tag for tag in tags if floor is not None and tag > floor]
            if len(below) > 1:
                # Every open tag up to max(below) is one of ours: one frame acks them all.
                await channel.basic_ack(max(below), multiple=True, wait=False)
            elif below:
                await channel.basic_ack(below[0], wait=False)
            for tag in singly:
                await channel.basic_ack(tag, wait=False)
            open_tags.difference_update(settling)

    async def ack_one(self, message: AbstractIncomingMessage) -> None:
        await self.ack([message])

    async def nack(self, message: AbstractIncomingMessage, *, requeue: bool) -> None:
        channel = message.channel
        if message.delivery_tag is None:
            return
        _usable(channel)
        await channel.basic_nack(message.delivery_tag, requeue=requeue, wait=False)
        self._of(channel).tags.discard(message.delivery_tag)

    def _of(self, channel: AbstractChannel) -> _Open:
        found = self._open.get(channel)
        if found is None:
            found = self._open[channel] = _Open()
        return found


def _usable(channel: AbstractChannel) -> None:
    if channel.is_closed:
        # The broker has given these deliveries back (to this consumer once it reconnects,
        # or another): the inbox recognises them when they come again.
        raise ChannelInvalidStateError(f"{channel!r} closed")
