"""Who a message speaks for: the AMQP `user_id` the broker checked, or, from a trusted user
carrying another's message (a replayed dead letter), the original publisher it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from aio_pika.abc import AbstractIncomingMessage

from lre_shared.bus import acts_for, broker_user, original_publisher, published_by, publisher_user
from lre_shared.dlq import original_user
from lre_shared.topology import ORIGINAL_USER_HEADER

TRUSTED = ("lre-operator",)


def test_a_sender_acts_for_itself_only() -> None:
    with published_by("acme"):
        assert acts_for("acme", TRUSTED)
        assert not acts_for("globex", TRUSTED)


def test_a_trusted_user_acts_for_every_sender() -> None:
    with published_by("lre-operator"):
        assert acts_for("acme", TRUSTED) and acts_for("globex", TRUSTED)


def test_a_message_without_user_id_acts_for_nobody() -> None:
    with published_by(None):
        assert not acts_for("acme", TRUSTED)
    assert publisher_user() is None


def test_the_publisher_is_the_user_id_the_broker_checked() -> None:
    assert original_publisher("acme", {}, TRUSTED) == "acme"
    assert original_publisher("", {}, TRUSTED) is None
    assert original_publisher(None, None, TRUSTED) is None


def test_a_trusted_user_carrying_a_message_speaks_for_the_original_publisher_it_names() -> None:
    assert original_publisher("lre-operator", {ORIGINAL_USER_HEADER: "acme"}, TRUSTED) == "acme"
    assert original_publisher("lre-operator", {ORIGINAL_USER_HEADER: b"acme"}, TRUSTED) == "acme"


def test_a_replayed_message_that_had_no_user_id_acts_for_nobody() -> None:
    assert original_publisher("lre-operator", {ORIGINAL_USER_HEADER: ""}, TRUSTED) is None


def test_a_sender_cannot_name_another_sender_in_the_header() -> None:
    assert original_publisher("acme", {ORIGINAL_USER_HEADER: "globex"}, TRUSTED) == "acme"


def test_the_broker_user_is_the_urls_user_or_guest() -> None:
    assert broker_user("amqp://acme:secret@broker:5672/lre") == "acme"
    assert broker_user("amqp://lre%2Dops:x@broker/") == "lre-ops"
    assert broker_user("amqp://broker/") == "guest"


@dataclass
class DeadLetter:
    user_id: str | None
    headers: dict[str, Any] = field(default_factory=dict)


def dead(user_id: str | None, **headers: Any) -> AbstractIncomingMessage:
    return cast(AbstractIncomingMessage, DeadLetter(user_id, headers))


def test_a_dead_letter_the_broker_moved_keeps_its_publishers_user_id_and_not_its_header() -> None:
    # The broker's own dead-lettering keeps the message as published, forged header included.
    forged = dead("acme", **{ORIGINAL_USER_HEADER: "globex"})

    assert original_user(forged, {"lre-archive"}) == "acme"


def test_a_dead_letter_a_trusted_consumer_moved_names_its_original_publisher() -> None:
    moved = dead("lre-archive", **{ORIGINAL_USER_HEADER: "acme"})

    assert original_user(moved, {"lre-archive"}) == "acme"


def test_a_dead_letter_without_user_id_is_replayed_as_from_nobody() -> None:
    assert original_user(dead(None), {"lre-archive"}) == ""
