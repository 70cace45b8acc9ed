"""A committed batch is acknowledged with one frame when it can be, and never is a delivery
acknowledged before its own commit (`lre_shared.bus.acks`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from aio_pika.abc import AbstractIncomingMessage

from lre_shared.bus.acks import Settlements


@dataclass(eq=False)
class FakeChannel:
    """What the broker was told, in order."""

    sent: list[tuple[str, int, bool]] = field(default_factory=list)
    is_closed: bool = False

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        self.sent.append(("ack", delivery_tag, multiple))

    async def basic_nack(
        self, delivery_tag: int, multiple: bool = False, requeue: bool = True, wait: bool = True
    ) -> None:
        self.sent.append(("nack", delivery_tag, multiple))


@dataclass
class FakeDelivery:
    channel: FakeChannel
    delivery_tag: int


def deliveries(settlements: Settlements, channel: FakeChannel, tags: range) -> list[AbstractIncomingMessage]:
    received = [cast(AbstractIncomingMessage, FakeDelivery(channel, tag)) for tag in tags]
    for message in received:
        settlements.received(message)
    return received


def acked(channel: FakeChannel) -> set[int]:
    """Every tag the frames sent acknowledge, a `multiple` ack counting all tags up to it."""
    done: set[int] = set()
    for kind, tag, multiple in channel.sent:
        if kind == "ack":
            done |= set(range(1, tag + 1)) if multiple else {tag}
    return done


async def test_a_batch_of_the_oldest_open_deliveries_is_acknowledged_with_one_frame() -> None:
    settlements, channel = Settlements(), FakeChannel()
    first, second = (received := deliveries(settlements, channel, range(1, 9)))[:4], received[4:]

    await settlements.ack(first)

    assert channel.sent == [("ack", 4, True)]
    await settlements.ack(second)
    assert channel.sent == [("ack", 4, True), ("ack", 8, True)]


async def test_a_batch_committed_before_an_older_one_is_acknowledged_one_by_one() -> None:
    settlements, channel = Settlements(), FakeChannel()
    received = deliveries(settlements, channel, range(1, 7))

    await settlements.ack(received[3:])  # 4, 5, 6 committed while 1, 2, 3 are still handled

    assert channel.sent == [("ack", 4, False), ("ack", 5, False), ("ack", 6, False)]
    assert acked(channel) == {4, 5, 6}
    await settlements.ack(received[:3])
    assert channel.sent[3:] == [("ack", 3, True)]
    assert acked(channel) == {1, 2, 3, 4, 5, 6}


async def test_a_delivery_never_settled_is_never_covered_by_a_later_batch() -> None:
    settlements, channel = Settlements(), FakeChannel()
    received = deliveries(settlements, channel, range(1, 6))  # 2 stays open (stopping, a failure)

    await settlements.ack([received[0]])
    await settlements.ack(received[2:])

    assert 2 not in acked(channel)
    assert acked(channel) == {1, 3, 4, 5}


async def test_a_delivery_put_back_for_a_retry_no_longer_holds_back_the_batches_after_it() -> None:
    settlements, channel = Settlements(), FakeChannel()
    received = deliveries(settlements, channel, range(1, 5))

    await settlements.nack(received[0], requeue=True)
    await settlements.ack(received[1:])

    assert channel.sent == [("nack", 1, False), ("ack", 4, True)]


async def test_each_channel_keeps_its_own_count() -> None:
    settlements, one, other = Settlements(), FakeChannel(), FakeChannel()
    on_one = deliveries(settlements, one, range(1, 3))
    on_other = deliveries(settlements, other, range(1, 3))

    await settlements.ack([*on_one, on_other[1]])

    assert one.sent == [("ack", 2, True)]
    assert other.sent == [("ack", 2, False)]
    assert cast(Any, settlements)._open[other].tags == {1}
