"""Who a message speaks for: the broker's word, not the message's.

Each sender system publishes as its own broker user, and every message carries the AMQP
`user_id`, which RabbitMQ checks against the connection's user (a message claiming another
user is refused and its channel closed). The consumer sets, for the message being handled,
who published it (`publisher_user`); a use case acts for a sender only when that user is the
sender's own or one the service trusts to act for every sender (`acts_for`). A trusted user
that carries another's message (the dead-letter replayer; a consumer dead-lettering) names
the original publisher in `x-lre-original-user-id` (`original_publisher`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from lre_shared.topology import ORIGINAL_USER_HEADER

# Set by the consumer for each delivery (`lre_shared.bus.consume`), read through the functions below.
PUBLISHER_USER: ContextVar[str | None] = ContextVar("lre_publisher_user", default=None)


def publisher_user() -> str | None:
    """The broker user that published the message being handled (AMQP `user_id`, which the
    broker checks against the connection's user), or None when the publisher did not say."""
    return PUBLISHER_USER.get()


def acts_for(sender_id: str, trusted: Collection[str]) -> bool:
    """Whether the publisher of the message being handled may act for `sender_id`: it is that
    sender's own broker user, or one of the `trusted` users. A message without `user_id`
    acts for nobody. A message a trusted user carried for another (a dead letter replayed)
    speaks for its original publisher (`original_publisher`)."""
    user = publisher_user()
    return user is not None and (user == sender_id or user in trusted)


def original_publisher(
    user_id: str | None, headers: Mapping[str, Any] | None, trusted: Collection[str]
) -> str | None:
    """Who a delivery speaks for: its AMQP `user_id`, which the broker checked against the
    connection; but a trusted user that carries another's message (the dead-letter replayer,
    a consumer dead-lettering) names the original publisher in `x-lre-original-user-id` ("":
    none), and that is who speaks. The header of anyone else is ignored: a sender cannot name
    another sender by it."""
    user = user_id or None
    if user is None or user not in trusted or not headers or ORIGINAL_USER_HEADER not in headers:
        return user
    original = headers[ORIGINAL_USER_HEADER]
    named = original.decode() if isinstance(original, bytes) else str(original or "")
    return named or None


@contextmanager
def published_by(user: str | None) -> Iterator[None]:
    """Handle what runs inside as published by broker user `user` (tools and unit tests)."""
    token = PUBLISHER_USER.set(user)
    try:
        yield
    finally:
        PUBLISHER_USER.reset(token)
