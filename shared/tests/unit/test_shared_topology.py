"""Queue and exchange names, derived from the message classes."""

from __future__ import annotations

from lre_shared.contracts import ALL_MESSAGES, LetterDeposited, Reply, SendNotice
from lre_shared.topology import (
    EXCHANGES,
    SENDERS_COMMANDS_EXCHANGE,
    SENDERS_EVENTS_EXCHANGE,
    UNROUTED_EXCHANGE,
    Service,
    commands_exchange,
    dead_letter_queue,
    events_exchange,
    queue_name,
    sender_commands_of,
    sender_queue,
    sender_routing_key,
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

    assert len(events) == len(Service) + 1  # and the senders' events
    assert all(spec.alternate == "lre.unrouted" for spec in events)
    assert all(spec.kind == "topic" for spec in events)


def test_commands_exchanges_have_no_alternate() -> None:
    commands = [spec for spec in EXCHANGES if spec.name in {commands_exchange(s) for s in Service}]

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


def test_the_senders_commands_exchange_is_a_topic_without_alternate() -> None:
    # A routing key no service binds there (a command no sender may send) comes back to the
    # mandatory publisher rather than reaching any queue.
    spec = next(spec for spec in EXCHANGES if spec.name == SENDERS_COMMANDS_EXCHANGE)

    assert (spec.kind, spec.alternate) == ("topic", None)


def test_the_senders_events_exchange_is_a_topic_handing_unrouted_events_to_lre_unrouted() -> None:
    spec = next(spec for spec in EXCHANGES if spec.name == SENDERS_EVENTS_EXCHANGE)

    assert (spec.kind, spec.alternate) == ("topic", UNROUTED_EXCHANGE)


def test_each_sender_command_is_bound_by_the_service_that_takes_it() -> None:
    assert sender_commands_of(Service.archive) == (
        "submit_letter.v1",
        "request_upload.v1",
        "get_letter_status.v1",
        "record_consent.v1",
        "withdraw_consent.v1",
    )
    assert sender_commands_of(Service.signer) == ("list_evidence.v1", "list_proofs.v1", "issue_proof_link.v1")
    assert sender_commands_of(Service.pickup) == ()


def test_a_senders_queue_and_routing_keys_carry_its_id() -> None:
    assert sender_queue("acme") == "lre.sender.acme"
    assert sender_routing_key("acme", "deposited") == "acme.deposited"
