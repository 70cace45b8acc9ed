"""Queue and exchange names, derived from the message classes."""

from __future__ import annotations

from lre_shared.contracts import ALL_MESSAGES, LetterDeposited, Reply, SendNotice
from lre_shared.topology import (
    EXCHANGES,
    UNROUTED_EXCHANGE,
    Service,
    commands_exchange,
    dead_letter_queue,
    events_exchange,
    queue_name,
)


def test_queue_name_is_consumer_dot_routing_key() -> None:
    assert queue_name(Service.pickup, LetterDeposited) == "pickup.letter.deposited.v1"


def test_queue_name_accepts_a_plain_consumer_name() -> None:
    assert queue_name("notifier", SendNotice) == "notifier.send_notice.v1"


def test_two_consumers_of_one_event_get_distinct_queues() -> None:
    assert queue_name(Service.pickup, LetterDeposited) != queue_name(Service.signer, LetterDeposited)


def test_dead_letter_queue_sits_beside_its_queue() -> None:
    assert dead_letter_queue("pickup.letter.deposited.v1") == "pickup.letter.deposited.v1.dlq"


def test_exchange_names_follow_the_convention() -> None:
    assert events_exchange(Service.archive) == "lre.archive.events"
    assert commands_exchange(Service.archive) == "lre.archive.commands"


def test_unrouted_exchange_is_called_lre_unrouted() -> None:
    assert UNROUTED_EXCHANGE == "lre.unrouted"


def test_every_service_has_an_events_and_a_commands_exchange() -> None:
    names = {spec.name for spec in EXCHANGES}
    for service in Service:
        assert events_exchange(service) in names
        assert commands_exchange(service) in names


def test_every_events_exchange_hands_unrouted_messages_to_lre_unrouted() -> None:
    events = [spec for spec in EXCHANGES if spec.name.endswith(".events")]

    assert len(events) == len(Service)
    assert all(spec.alternate == "lre.unrouted" for spec in events)
    assert all(spec.kind == "topic" for spec in events)


def test_commands_exchanges_have_no_alternate() -> None:
    commands = [spec for spec in EXCHANGES if spec.name.endswith(".commands")]

    assert len(commands) == len(Service)
    assert all(spec.alternate is None for spec in commands)
    assert all(spec.kind == "direct" for spec in commands)


def test_the_unrouted_exchange_is_a_fanout_without_alternate() -> None:
    unrouted = next(spec for spec in EXCHANGES if spec.name == UNROUTED_EXCHANGE)

    assert unrouted.kind == "fanout"
    assert unrouted.alternate is None


def test_exchange_names_are_unique() -> None:
    names = [spec.name for spec in EXCHANGES]
    assert len(names) == len(set(names))


def test_every_message_travels_on_a_declared_exchange_except_the_reply() -> None:
    declared = {spec.name for spec in EXCHANGES}
    for message_type in ALL_MESSAGES:
        if issubclass(message_type, Reply):
            continue
        assert message_type.exchange in declared, message_type.__name__
