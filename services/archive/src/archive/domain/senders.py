"""Sender systems on the broker: their ids, and what each one's broker user may do.

A sender system connects to RabbitMQ as its own user, named after its sender id, and may
- publish commands and queries to `lre.senders.commands` only (a topic exchange bound, key by
  key, to the services' command exchanges for what a sender may send: `SENDER_COMMANDS`);
  its messages carry the AMQP `user_id`, which the broker checks against the connection, and
  the services answer only about that user's own letters;
- read its own durable queue `lre.sender.<id>` (bound to `lre.senders.events` with `<id>.#`);
- declare, bind and read temporary queues of its own, `lre-send.<id>.<anything>`, and bind
  them to `lre.senders.events` with its own routing keys only (the topic permission: read
  `^<id>\\.`, so no queue of its can take another sender's events);
- answers to its queries come by direct reply-to (`amq.rabbitmq.reply-to`), which needs no
  permission.
It may not touch the internal exchanges (`lre.<service>.events` carry personal data and
proofs of every sender's letters), another sender's queue, or declare anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lre_shared.topology import SENDERS_COMMANDS_EXCHANGE, SENDERS_EVENTS_EXCHANGE, sender_queue

# One word of a routing key (`<sender id>.<event>`), and a broker user name without anything
# a permission pattern would read as more than itself.
SENDER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# The prefix of the temporary queues a sender may declare: `lre-send.<sender id>.<uuid>`.
TEMPORARY_QUEUE_PREFIX = "lre-send"


class SenderIdRefused(ValueError):
    """Not a sender id: said why, for the operator."""


def check_sender_id(sender_id: str) -> str:
    if not SENDER_ID.fullmatch(sender_id):
        raise SenderIdRefused(
            f"{sender_id!r} is not a sender id: 1 to 63 characters among a-z, 0-9, '_' and '-',"
            " starting with a letter or digit (it is a broker user name and one routing-key word)"
        )
    return sender_id


def temporary_queue(sender_id: str, suffix: str) -> str:
    """A temporary queue the sender may declare and bind (to its own routing keys)."""
    return f"{TEMPORARY_QUEUE_PREFIX}.{sender_id}.{suffix}"


@dataclass(frozen=True)
class Permissions:
    """A sender's permissions on the platform's virtual host (regular expressions, as RabbitMQ
    reads them), and its topic permission on `lre.senders.events`."""

    configure: str
    write: str
    read: str
    topic_exchange: str
    topic_write: str
    topic_read: str


def _literal(name: str) -> str:
    # Names here hold only a-z, 0-9, '_', '-' and '.', of which only '.' means more in a pattern.
    return name.replace(".", r"\.")


def sender_permissions(sender_id: str) -> Permissions:
    own = _literal(check_sender_id(sender_id))
    temporary = rf"{_literal(TEMPORARY_QUEUE_PREFIX)}\.{own}\..*"
    return Permissions(
        configure=rf"^{temporary}$",
        write=rf"^({_literal(SENDERS_COMMANDS_EXCHANGE)}|{temporary})$",
        read=rf"^({_literal(sender_queue(sender_id))}|{temporary}|{_literal(SENDERS_EVENTS_EXCHANGE)})$",
        topic_exchange=SENDERS_EVENTS_EXCHANGE,
        # Publishing to lre.senders.events: never (only the archive tells senders).
        topic_write="^$",
        # Binding to lre.senders.events: only under its own routing keys.
        topic_read=rf"^{own}\.",
    )


def sender_binding(sender_id: str) -> str:
    """The binding key of the sender's queue on `lre.senders.events`: all its letters' events."""
    return f"{sender_id}.#"
